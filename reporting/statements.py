"""Reconciliation statements: a buyer's invoice and a publisher's payout for a period.

Every figure is an SQL aggregate over the same ledger rows ``leads.ledger.balances``
sums (``leads.ledger.entries``), so a statement's net equals the balance to the cent.
A buyer's amounts are charges, a publisher's are payouts; returns are negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum

from buyers.models import Buyer
from exchange.models import Publisher
from leads.choices import LedgerKind
from leads.ledger import amount, entries
from leads.models import LedgerEntry


@dataclass(frozen=True, slots=True)
class Statement:
    """Totals of one party's ledger rows in ``[start, end)``."""

    party: str  # "buyer" or "publisher"
    party_id: int
    name: str
    start: datetime
    end: datetime
    sales_count: int
    sales_amount: Decimal
    returns_count: int
    returns_amount: Decimal  # negative: money given back
    adjustments_count: int
    adjustments_amount: Decimal
    net: Decimal


def buyer_statement(buyer: Buyer, start: datetime, end: datetime) -> Statement:
    """What ``buyer`` owes for ``[start, end)``: sales, returns, adjustments, net charge."""
    return _statement("buyer", buyer, "charge", start, end)


def publisher_statement(publisher: Publisher, start: datetime, end: datetime) -> Statement:
    """What ``publisher`` earned for ``[start, end)``: sales, returns, adjustments, net."""
    return _statement("publisher", publisher, "payout", start, end)


def statement_rows(
    *,
    buyer: Buyer | None = None,
    publisher: Publisher | None = None,
    start: datetime,
    end: datetime,
) -> QuerySet[LedgerEntry]:
    """The rows behind a statement, oldest first, for CSV export. Each has ``amount``:
    the charge on a buyer's statement, the payout on a publisher's."""
    if (buyer is None) == (publisher is None):
        raise ValueError("statement_rows needs either a buyer or a publisher")
    column = "charge" if buyer is not None else "payout"
    return (
        entries(buyer=buyer, publisher=publisher, start=start, end=end)
        .select_related("campaign", "lead", "created_by")
        .annotate(amount=F(column))
        .order_by("created_at", "id")
    )


def _statement(party: str, owner: Any, column: str, start: datetime, end: datetime) -> Statement:
    rows = entries(start=start, end=end, **{party: owner})
    sums: dict[str, Any] = {}
    for kind, label in (
        (LedgerKind.SALE, "sales"),
        (LedgerKind.RETURN, "returns"),
        (LedgerKind.ADJUSTMENT, "adjustments"),
    ):
        sums[f"{label}_count"] = Count("id", filter=Q(kind=kind))
        sums[f"{label}_amount"] = Sum(column, filter=Q(kind=kind))
    totals = rows.aggregate(**sums, net=Sum(column))
    return Statement(
        party=party,
        party_id=owner.pk,
        name=str(owner),
        start=start,
        end=end,
        sales_count=totals["sales_count"],
        sales_amount=amount(totals["sales_amount"] or 0),
        returns_count=totals["returns_count"],
        returns_amount=amount(totals["returns_amount"] or 0),
        adjustments_count=totals["adjustments_count"],
        adjustments_amount=amount(totals["adjustments_amount"] or 0),
        net=amount(totals["net"] or 0),
    )
