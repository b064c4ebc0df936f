"""Cap counters set right against what was actually sold (a periodic task on beat).

Counters are raised and lowered by the attempts themselves (``buyers.caps``), and a
sender that dies mid-call has its reservation given back when its delivery is
recovered. This is the net under both: for every cap's current window it recomputes
the count and spend from the sales (leads sold to the cap's campaign, or to any of
its buyer's campaigns) plus the reservations of attempts still in flight, and
corrects a counter that disagrees.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from buyers.caps import Reservation, window_start
from buyers.models import Cap, CapCounter

from .models import Delivery, Lead

log = logging.getLogger(__name__)


def _in_flight() -> dict[tuple[int, datetime], tuple[int, Decimal]]:
    """(cap id, window) -> (leads, spend) held by attempts that have not finished."""
    held: dict[tuple[int, datetime], tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    for data in Delivery.objects.filter(reservation__isnull=False).values_list(
        "reservation", flat=True
    ):
        if not data:
            continue
        reservation = Reservation.from_json(data)
        for taken in reservation.taken:
            leads, spend = held[taken]
            held[taken] = (leads + 1, spend + reservation.price)
    return held


def reconcile_cap_counters(now: datetime | None = None) -> list[str]:
    """Correct every counter of the current windows; returns what was corrected."""
    now = now or timezone.now()
    corrected = []
    for cap in Cap.objects.select_related("buyer", "campaign__buyer").order_by("pk"):
        owner = cap.buyer or (cap.campaign.buyer if cap.campaign else None)
        if owner is None:  # a cap has a campaign or a buyer (a check constraint)
            continue
        window = window_start(cap.period, owner.timezone, now)
        with transaction.atomic():
            # Holding the counter row keeps attempts from moving it while it is recounted;
            # in-flight reservations are read before sales, so a sale that lands in
            # between is counted twice (too cautious until the next run), never missed.
            counter, _ = CapCounter.objects.get_or_create(cap=cap, window_start=window)
            counter = CapCounter.objects.select_for_update().get(pk=counter.pk)
            held_leads, held_spend = _in_flight().get((cap.pk, window), (0, Decimal(0)))
            sales = Lead.objects.filter(is_test=False, sold_at__gte=window, sold_at__lte=now)
            if cap.campaign_id:
                sales = sales.filter(sold_campaign_id=cap.campaign_id)
            else:
                sales = sales.filter(sold_campaign__buyer_id=owner.pk)
            sold = sales.aggregate(leads=Count("pk"), spend=Sum("price"))
            leads = sold["leads"] + held_leads
            spend = ((sold["spend"] or Decimal(0)) + held_spend).quantize(Decimal("0.0001"))
            if (counter.leads, counter.spend) != (leads, spend):
                corrected.append(
                    f"cap {cap.pk} ({cap}) from {window:%Y-%m-%d %H:%M}: "
                    f"{counter.leads} leads / {counter.spend} -> {leads} / {spend}"
                )
                CapCounter.objects.filter(pk=counter.pk).update(leads=leads, spend=spend)
    for line in corrected:
        log.warning("cap counter corrected: %s", line)
    return corrected
