"""Returns: a buyer sends a sold lead back, and the sale's money is reversed.

Allowed within the buyer's return window after the sale, once per lead, and while the
buyer's returns in the calendar month (in its timezone) stay within
``max_return_percent`` of its purchases in that month.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_CEILING
from typing import Any

from django.db import transaction
from django.utils import timezone

from buyers.caps import window_start
from buyers.choices import CapPeriod
from buyers.models import Buyer

from .choices import LeadStatus, LedgerKind, ReturnReason
from .ledger import reverse_sale
from .models import IllegalTransition, Lead, LedgerEntry, Return
from .transitions import move_lead


class ReturnRefused(Exception):
    """A return the exchange refuses: a stable machine ``code`` and a readable message.

    Codes: ``not_sold``, ``not_your_lead``, ``already_returned``,
    ``return_window_closed``, ``return_cap_reached``, ``test_lead``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def record_return(
    lead: Lead,
    *,
    buyer: Buyer,
    reason: str,
    note: str = "",
    user: Any = None,
    now: datetime | None = None,
) -> Return:
    """Return ``lead`` for ``buyer``: a ``Return`` row, the sale's ledger row reversed,
    the lead moved to ``returned`` with its event, all in one transaction.

    Raises ``ReturnRefused`` when the return is not allowed (nothing is written then).
    """
    if reason not in ReturnReason.values:
        raise ValueError(f"unknown return reason {reason!r}")
    now = now or timezone.now()
    with transaction.atomic():
        # The buyer's row serializes its returns, so two at once cannot both slip under
        # the return cap; the lead's row makes "not already returned" hold until commit.
        buyer = Buyer.objects.select_for_update().get(pk=buyer.pk)
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        _check(locked, buyer, now)
        record = Return.objects.create(
            lead=locked,
            buyer=buyer,
            reason=reason,
            note=note[:500],
            created_by=user,
            created_at=now,
        )
        reverse_sale(locked, reason=f"return: {reason}", user=user, at=now)
        if move_lead(locked, LeadStatus.RETURNED, note=f"returned: {reason}", at=now) is None:
            raise IllegalTransition(f"lead {locked.pk} changed while locked")
    lead.refresh_from_db(fields=["status", "updated_at"])
    return record


def _check(lead: Lead, buyer: Buyer, now: datetime) -> None:
    """Raise ``ReturnRefused`` unless ``buyer`` may return ``lead`` at ``now``."""
    sold = lead.status in (LeadStatus.SOLD, LeadStatus.RETURNED)
    if not sold or lead.sold_campaign is None or lead.sold_at is None:
        raise ReturnRefused("not_sold", "This lead was not sold, so it cannot be returned.")
    if lead.sold_campaign.buyer_id != buyer.pk:
        raise ReturnRefused("not_your_lead", "This lead was not sold to you.")
    if lead.is_test:
        raise ReturnRefused("test_lead", "Test leads are not billed, so they cannot be returned.")
    if lead.status == LeadStatus.RETURNED or Return.objects.filter(lead=lead).exists():
        raise ReturnRefused("already_returned", "This lead has already been returned.")
    deadline = lead.sold_at + timedelta(days=buyer.return_window_days)
    if now > deadline:
        raise ReturnRefused(
            "return_window_closed",
            f"The return window of {buyer.return_window_days} days closed on "
            f"{deadline.isoformat(timespec='seconds')}.",
        )
    _check_return_rate(lead, buyer, now)


def _check_return_rate(lead: Lead, buyer: Buyer, now: datetime) -> None:
    """Refuse when this return would take the buyer's returns in the calendar month (in
    its timezone) past ``max_return_percent`` of its purchases in that month.

    The allowance rounds up, so a buyer with any purchase may return one lead (0%
    forbids returns); a lead bought in an earlier month counts as a purchase too, so
    returning it early in a quiet month is judged against something.
    """
    month = window_start(CapPeriod.MONTH, buyer.timezone, now)
    purchases = LedgerEntry.objects.filter(
        buyer=buyer, kind=LedgerKind.SALE, created_at__gte=month, created_at__lte=now
    ).count()
    if lead.sold_at is not None and lead.sold_at < month:
        purchases += 1
    allowed = (buyer.max_return_percent * purchases / 100).to_integral_value(ROUND_CEILING)
    returned = Return.objects.filter(buyer=buyer, created_at__gte=month, created_at__lte=now)
    if returned.count() + 1 > allowed:
        raise ReturnRefused(
            "return_cap_reached",
            f"Returns this month may not exceed {buyer.max_return_percent}% of this month's "
            f"{purchases} purchases ({allowed} returns).",
        )
