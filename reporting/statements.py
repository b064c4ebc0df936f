"""Statements: a buyer's invoice side and a publisher's payout side for a period.

Periods are whole days in the exchange's ``TIME_ZONE``, ``to`` inclusive. Every figure
is an SQL aggregate over the same ledger rows ``leads.ledger.balances`` sums
(``leads.ledger.entries``), so a statement's net equals the balance to the cent. A
buyer's amounts are charges, a publisher's are payouts; returns are negative.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from buyers.models import Buyer
from exchange.models import Publisher
from leads.choices import LedgerKind
from leads.ledger import amount, entries
from leads.models import LedgerEntry
from leads.periods import exchange_zone, local_midnight

CENT = Decimal("0.01")
PARTIES = ("buyer", "publisher")
# The longest period one statement covers: a year and a day keeps a page's queries
# bounded while allowing any calendar year.
MAX_DAYS = 366


class PeriodInvalid(ValueError):
    """A statement period that cannot be read (bad date, reversed, too long)."""


def cents(value: Decimal | int) -> Decimal:
    """A ledger sum as money a person reads: rounded half up to the cent."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal | int) -> str:
    """``cents(value)`` as a decimal string, ``"90.00"``."""
    return f"{cents(value):.2f}"


def row_amount(value: Decimal) -> str:
    """A single row's amount: to the cent when it is whole cents, else all 4 places."""
    return f"{value:.2f}" if value == value.quantize(CENT) else f"{value:.4f}"


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days ``first``..``last`` (inclusive) in the exchange's timezone."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return local_midnight(self.first)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last + timedelta(days=1))

    def __str__(self) -> str:
        return f"{self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}"


def parse_period(first: str | None, last: str | None, *, today: date | None = None) -> Period:
    """The period of ``?from=&to=`` (``YYYY-MM-DD``); missing ends default to this month
    so far. Raises ``PeriodInvalid`` with a message for a person."""
    today = today or timezone.now().astimezone(exchange_zone()).date()
    try:
        start = date.fromisoformat(first) if first else today.replace(day=1)
        end = date.fromisoformat(last) if last else today
    except ValueError as exc:
        raise PeriodInvalid("Dates are YYYY-MM-DD, e.g. 2026-10-01.") from exc
    if end < start:
        raise PeriodInvalid("'to' is before 'from'.")
    if (end - start).days >= MAX_DAYS:
        raise PeriodInvalid(f"A statement covers at most {MAX_DAYS} days.")
    return Period(start, end)


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
    # Of the sales: those to fallback campaigns (the remnant market).
    remnant_count: int = 0
    remnant_amount: Decimal = Decimal(0)

    @property
    def gross(self) -> Decimal:
        return self.sales_amount

    def as_dict(self) -> dict[str, Any]:
        """The statement as JSON-ready values: counts and decimal strings to the cent."""
        return {
            "party": self.party,
            "name": self.name,
            "leads_sold": self.sales_count,
            "gross": money(self.sales_amount),
            "returns_count": self.returns_count,
            "returns": money(self.returns_amount),
            "adjustments_count": self.adjustments_count,
            "adjustments": money(self.adjustments_amount),
            "net": money(self.net),
        }


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
    remnant = Q(kind=LedgerKind.SALE, remnant=True)
    sums["remnant_count"] = Count("id", filter=remnant)
    sums["remnant_amount"] = Sum(column, filter=remnant)
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
        remnant_count=totals["remnant_count"],
        remnant_amount=amount(totals["remnant_amount"] or 0),
    )


def party_statement(party: str, owner: Any, start: datetime, end: datetime) -> Statement:
    """``buyer_statement`` or ``publisher_statement`` by the party's name."""
    if party not in PARTIES:
        raise ValueError(f"unknown party {party!r}")
    return _statement(party, owner, COLUMNS[party], start, end)


COLUMNS = {"buyer": "charge", "publisher": "payout"}
# ``remnant``: "yes" on a sale to a fallback campaign (and on the return reversing it).
CSV_HEADER = ["date", "lead_id", "kind", "amount", "remnant"]


def csv_rows(party: str, owner: Any, start: datetime, end: datetime) -> Iterator[list[str]]:
    """A statement as CSV rows: the header, one row per ledger entry (oldest first),
    then ``total``. Rows stream from a server-side cursor in chunks, so memory stays
    flat whatever the period; the total is the exact sum of the rows written, rounded
    to the cent like the page's net."""
    column = COLUMNS[party]
    rows = (
        entries(start=start, end=end, **{party: owner})
        .order_by("created_at", "id")
        .values_list("created_at", "lead_id", "kind", column, "remnant")
    )
    zone = exchange_zone()
    total = Decimal(0)
    yield CSV_HEADER
    for created_at, lead_id, kind, value, remnant in rows.iterator(chunk_size=5000):
        total += value
        yield [
            created_at.astimezone(zone).isoformat(timespec="seconds"),
            str(lead_id) if lead_id else "",
            kind,
            row_amount(value),
            "yes" if remnant else "",
        ]
    yield ["total", "", "", money(total), ""]


def lines(party: str, owner: Any, start: datetime, end: datetime) -> QuerySet[LedgerEntry]:
    """The rows behind a statement for a page, oldest first, with ``amount``."""
    return (
        entries(start=start, end=end, **{party: owner})
        .annotate(amount=F(COLUMNS[party]))
        .order_by("created_at", "id")
    )
