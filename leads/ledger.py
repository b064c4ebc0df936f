"""The ledger: the only place money moves.

A sale writes one row (the buyer's charge, the publisher's payout and the exchange's
margin); a return writes its exact negation, linked to the sale; an adjustment is a
row with a reason and the acting user. Balances and statements are sums of these
rows, so they reconcile to the cent by construction. Test leads never reach it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet, Sum

from buyers.models import Buyer
from exchange.models import Publisher

from .choices import LedgerKind
from .models import Lead, LedgerEntry
from .periods import booking_time

FOUR_PLACES = Decimal("0.0001")
TWO_PLACES = Decimal("0.01")
ZERO = Decimal("0.0000")


def money(value: Decimal | None) -> str | None:
    """An amount as the APIs and callbacks show it: text with two decimal places."""
    return None if value is None else str(value.quantize(TWO_PLACES))


class LedgerError(Exception):
    """A money movement the ledger refuses (a programming or data error, not a user's)."""


def amount(value: Decimal | int | str) -> Decimal:
    """``value`` as a ledger amount: Decimal with 4 places. Floats are refused."""
    if isinstance(value, float):
        raise TypeError("money is Decimal, never float")
    return Decimal(value).quantize(FOUR_PLACES)


def record_sale(
    lead: Lead,
    *,
    buyer_id: int | None = None,
    remnant: bool | None = None,
    savepoint: bool = True,
) -> LedgerEntry:
    """Write the sale of ``lead``: charge = its price, payout = its payout.

    Call it in the transaction that marks the lead sold (``buyer_id``: the sold
    campaign's buyer, and ``remnant``: whether it is a fallback campaign, when the caller
    knows them; ``savepoint=False`` when a refusal is to
    fail the caller's whole transaction anyway). Refuses test leads, unsold leads and a
    second sale row for the same lead (``ledger_one_sale_per_lead``: the database
    decides, whatever the interleaving, and the caller's transaction fails with it).
    """
    if lead.is_test:
        raise LedgerError(f"lead {lead.pk} is a test lead: test leads never touch the ledger")
    if lead.sold_campaign_id is None or lead.price is None or lead.payout is None:
        raise LedgerError(f"lead {lead.pk} has no sale to record (campaign, price or payout)")
    if buyer_id is None:
        buyer_id = lead.sold_campaign.buyer_id  # type: ignore[union-attr]
    if remnant is None:
        remnant = lead.sold_campaign.fallback  # type: ignore[union-attr]
    charge, payout = amount(lead.price), amount(lead.payout)
    try:
        with transaction.atomic(savepoint=savepoint):
            return LedgerEntry.objects.create(
                kind=LedgerKind.SALE,
                lead=lead,
                buyer_id=buyer_id,
                campaign_id=lead.sold_campaign_id,
                publisher_id=lead.publisher_id,
                charge=charge,
                payout=payout,
                margin=charge - payout,
                remnant=remnant,
                created_at=booking_time(lead.sold_at),
            )
    except IntegrityError as exc:
        raise LedgerError(f"lead {lead.pk} already has a sale in the ledger") from exc


def reverse_sale(
    lead: Lead, *, reason: str, user: Any = None, at: datetime | None = None
) -> LedgerEntry:
    """Write the exact negation of ``lead``'s sale row (a return), linked by ``reverses``."""
    with transaction.atomic():
        sale = (
            LedgerEntry.objects.select_for_update().filter(lead=lead, kind=LedgerKind.SALE).first()
        )
        if sale is None:
            raise LedgerError(f"lead {lead.pk} has no sale in the ledger to reverse")
        if LedgerEntry.objects.filter(reverses=sale).exists():
            raise LedgerError(f"the sale of lead {lead.pk} is already reversed")
        return LedgerEntry.objects.create(
            kind=LedgerKind.RETURN,
            lead=lead,
            buyer_id=sale.buyer_id,
            campaign_id=sale.campaign_id,
            publisher_id=sale.publisher_id,
            charge=-sale.charge,
            payout=-sale.payout,
            margin=-sale.margin,
            remnant=sale.remnant,
            reason=reason[:200],
            reverses=sale,
            created_by=user,
            created_at=booking_time(at),
        )


def record_adjustment(
    *,
    buyer: Buyer | None = None,
    publisher: Publisher | None = None,
    charge: Decimal = ZERO,
    payout: Decimal = ZERO,
    reason: str,
    user: Any,
    at: datetime | None = None,
) -> LedgerEntry:
    """A manual money movement: ``charge`` to ``buyer`` (negative: a credit) and/or
    ``payout`` to ``publisher`` (negative: a debit); the exchange's margin absorbs the
    difference. Needs a reason and the acting user."""
    charge, payout = amount(charge), amount(payout)
    if not reason.strip():
        raise LedgerError("an adjustment needs a reason")
    if user is None:
        raise LedgerError("an adjustment needs the user who makes it")
    if charge == 0 and payout == 0:
        raise LedgerError("an adjustment must move some money")
    if charge and buyer is None:
        raise LedgerError("a charge adjustment needs the buyer it applies to")
    if payout and publisher is None:
        raise LedgerError("a payout adjustment needs the publisher it applies to")
    with transaction.atomic():
        return LedgerEntry.objects.create(
            kind=LedgerKind.ADJUSTMENT,
            buyer=buyer,
            publisher=publisher,
            charge=charge,
            payout=payout,
            margin=charge - payout,
            reason=reason[:200],
            created_by=user,
            created_at=booking_time(at),
        )


def entries(
    *,
    buyer: Buyer | None = None,
    publisher: Publisher | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[LedgerEntry]:
    """The ledger rows of a buyer and/or publisher in ``[start, end)``, test leads
    excluded: the one selection balances and statements both sum."""
    # NOT EXISTS over the partial index of test leads, not a join to every lead: a
    # month's statement over a million rows stays an index range scan.
    test_lead = Lead.objects.filter(pk=OuterRef("lead_id"), is_test=True)
    rows = LedgerEntry.objects.filter(~Exists(test_lead))
    if buyer is not None:
        rows = rows.filter(buyer=buyer)
    if publisher is not None:
        rows = rows.filter(publisher=publisher)
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    if end is not None:
        rows = rows.filter(created_at__lt=end)
    return rows


def balances(
    *,
    buyer: Buyer | None = None,
    publisher: Publisher | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Decimal]:
    """Sums of charge, payout and margin over ``entries(...)`` (one query)."""
    totals = entries(buyer=buyer, publisher=publisher, start=start, end=end).aggregate(
        charge=Sum("charge"), payout=Sum("payout"), margin=Sum("margin")
    )
    # Quantizing also undoes SQLite's floating-point sums; PostgreSQL's are exact.
    return {name: amount(value or 0) for name, value in totals.items()}
