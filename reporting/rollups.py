"""Keeping the hourly rollups (``reporting.rollup_models``) current.

Every figure is recomputed from the raw rows one whole hour at a time: the rows of an
hour are deleted and written again in one transaction. A refresh (the Celery beat task
``reporting.tasks.refresh_rollups``, every ``ROLLUP_REFRESH_SECONDS``) recomputes the
hours from its last mark, less ``ROLLUP_SLACK_SECONDS`` for rows stamped earlier than
they were committed (the recorder's batches, long posts), up to now. Each fact is
counted in the hour it happened:

- a lead's ping, its bids and their calls: the lead's ``created_at``;
- a post: the lead's ``posted_at``; a delivery's end: its last update;
- a sale or a return: its ledger entry's ``created_at``;
- a buyer's disposition: when it was received (``reporting.conversions``).

Nothing here runs on a ping's answer path. ``rebuild(start, end)`` is the same work
over any range (``manage.py rebuild_rollups``), so a rebuild equals the live rows.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from leads.choices import DeliveryStatus, LeadStatus, LedgerKind, LogKind
from leads.models import Bid, Delivery, Lead, LedgerEntry, TransactionLog

from .conversions import conversion_rows
from .rollup_models import (
    BUCKET_FIELDS,
    LATENCY_BOUNDS_MS,
    CallHour,
    ConversionHour,
    ReasonHour,
    RollupState,
    TrafficHour,
)

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
FINISHED = (DeliveryStatus.ACCEPTED, DeliveryStatus.REJECTED, DeliveryStatus.FAILED)
REFUSED = (DeliveryStatus.REJECTED, DeliveryStatus.FAILED)


def floor_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


@dataclass(frozen=True, slots=True)
class Refresh:
    start: datetime
    end: datetime
    rows: int


def refresh(now: datetime | None = None) -> Refresh:
    """Recompute the hours that may have changed since the last refresh."""
    now = now or timezone.now()
    slack = timedelta(seconds=_setting("ROLLUP_SLACK_SECONDS", 300))
    with transaction.atomic():
        state, _ = RollupState.objects.get_or_create(pk=1)
        # The lock keeps two refreshers (two beat ticks, a rebuild) from interleaving
        # their deletes and inserts of the same hours.
        state = RollupState.objects.select_for_update().get(pk=1)
        since = state.refreshed_through or now - timedelta(hours=1)
        start = floor_hour(min(since, now) - slack)
        end = floor_hour(now) + HOUR
        rows = _recompute(start, end)
        RollupState.objects.filter(pk=1).update(refreshed_through=now, refreshed_at=timezone.now())
    return Refresh(start, end, rows)


def rebuild(start: datetime, end: datetime) -> Refresh:
    """Recompute every hour that meets ``[start, end)`` from the raw rows."""
    start, end = floor_hour(start), floor_hour(end - timedelta(microseconds=1)) + HOUR
    with transaction.atomic():
        RollupState.objects.get_or_create(pk=1)
        RollupState.objects.select_for_update().get(pk=1)
        rows = _recompute(start, end)
    return Refresh(start, end, rows)


def _recompute(start: datetime, end: datetime) -> int:
    """Delete and write again the rows of the hours in ``[start, end)``."""
    for model in (TrafficHour, CallHour, ReasonHour, ConversionHour):
        model.objects.filter(hour__gte=start, hour__lt=end).delete()
    traffic = _traffic(start, end)
    calls = _calls(start, end)
    reasons = _reasons(start, end)
    conversions = conversion_rows(start, end)
    TrafficHour.objects.bulk_create(traffic, batch_size=1000)
    CallHour.objects.bulk_create(calls, batch_size=1000)
    ReasonHour.objects.bulk_create(reasons, batch_size=1000)
    ConversionHour.objects.bulk_create(conversions, batch_size=1000)
    return len(traffic) + len(calls) + len(reasons) + len(conversions)


# --- the facts ------------------------------------------------------------------------

Key = tuple[datetime, int, int, int | None, int | None]  # hour, vertical, pub, campaign, buyer


def _traffic(start: datetime, end: datetime) -> list[TrafficHour]:
    rows: dict[Key, TrafficHour] = {}

    def row(
        hour: datetime, vertical: int, publisher: int, campaign: Any, buyer: Any
    ) -> TrafficHour:
        key = (hour, vertical, publisher, campaign, buyer)
        if key not in rows:
            rows[key] = TrafficHour(
                hour=hour,
                vertical_id=vertical,
                publisher_id=publisher,
                campaign_id=campaign,
                buyer_id=buyer,
            )
        return rows[key]

    leads = Lead.objects.filter(is_test=False)
    for r in (
        leads.filter(created_at__gte=start, created_at__lt=end)
        .values("vertical_id", "publisher_id", h=TruncHour("created_at"))
        .annotate(n=Count("id"))
        .order_by()
    ):
        row(r["h"], r["vertical_id"], r["publisher_id"], None, None).pings = r["n"]
    for r in (
        leads.filter(posted_at__gte=start, posted_at__lt=end)
        .values("vertical_id", "publisher_id", h=TruncHour("posted_at"))
        .annotate(n=Count("id"))
        .order_by()
    ):
        row(r["h"], r["vertical_id"], r["publisher_id"], None, None).posts = r["n"]

    for r in (
        Bid.objects.filter(lead__is_test=False, created_at__gte=start, created_at__lt=end)
        .values(
            "campaign_id",
            "campaign__buyer_id",
            "lead__vertical_id",
            "lead__publisher_id",
            h=TruncHour("created_at"),
        )
        .annotate(
            n_asked=Count("id"),
            n_bids=Count("id", filter=Q(rank__isnull=False)),
            s_bids=Sum("price", filter=Q(rank__isnull=False)),
            n_won=Count("id", filter=Q(rank=1)),
        )
        .order_by()
    ):
        t = row(
            r["h"],
            r["lead__vertical_id"],
            r["lead__publisher_id"],
            r["campaign_id"],
            r["campaign__buyer_id"],
        )
        t.asked, t.bids, t.won = r["n_asked"], r["n_bids"], r["n_won"]
        t.bid_total = r["s_bids"] or Decimal("0")

    for r in (
        Delivery.objects.filter(
            lead__is_test=False, status__in=FINISHED, updated_at__gte=start, updated_at__lt=end
        )
        .values(
            "campaign_id",
            "campaign__buyer_id",
            "lead__vertical_id",
            "lead__publisher_id",
            h=TruncHour("updated_at"),
        )
        .annotate(
            n_done=Count("id"),
            n_accepted=Count("id", filter=Q(status=DeliveryStatus.ACCEPTED)),
        )
        .order_by()
    ):
        t = row(
            r["h"],
            r["lead__vertical_id"],
            r["lead__publisher_id"],
            r["campaign_id"],
            r["campaign__buyer_id"],
        )
        t.delivered, t.accepted = r["n_done"], r["n_accepted"]

    sale, back = Q(kind=LedgerKind.SALE), Q(kind=LedgerKind.RETURN)
    for r in (
        LedgerEntry.objects.filter(
            kind__in=(LedgerKind.SALE, LedgerKind.RETURN),
            lead__is_test=False,
            campaign__isnull=False,
            created_at__gte=start,
            created_at__lt=end,
        )
        .values(
            "campaign_id",
            "campaign__buyer_id",
            "lead__vertical_id",
            "lead__publisher_id",
            h=TruncHour("created_at"),
        )
        .annotate(
            n_sold=Count("id", filter=sale),
            n_remnant=Count("id", filter=sale & Q(remnant=True)),
            s_remnant=Sum("charge", filter=sale & Q(remnant=True)),
            s_charge=Sum("charge", filter=sale),
            s_payout=Sum("payout", filter=sale),
            n_returns=Count("id", filter=back),
            r_charge=Sum("charge", filter=back),
            r_payout=Sum("payout", filter=back),
        )
        .order_by()
    ):
        t = row(
            r["h"],
            r["lead__vertical_id"],
            r["lead__publisher_id"],
            r["campaign_id"],
            r["campaign__buyer_id"],
        )
        t.sold, t.returns = r["n_sold"], r["n_returns"]
        t.revenue = r["s_charge"] or Decimal("0")
        t.payout = r["s_payout"] or Decimal("0")
        t.remnant_sold = r["n_remnant"]
        t.remnant_revenue = r["s_remnant"] or Decimal("0")
        # Return entries carry negative amounts; the rollup keeps what went back.
        t.refunded = -(r["r_charge"] or Decimal("0"))
        t.payout_reversed = -(r["r_payout"] or Decimal("0"))
    return list(rows.values())


def bucket_filters() -> dict[str, Q]:
    """Each histogram column's calls, by ``duration_ms``."""
    filters: dict[str, Q] = {}
    low = -1
    for name, bound in zip(BUCKET_FIELDS, (*LATENCY_BOUNDS_MS, None), strict=True):
        q = Q(duration_ms__gt=low)
        if bound is not None:
            q &= Q(duration_ms__lte=bound)
            low = bound
        filters[name] = q
    return filters


def _calls(start: datetime, end: datetime) -> list[CallHour]:
    buckets = {name: Count("id", filter=q) for name, q in bucket_filters().items()}
    return [
        CallHour(
            hour=r["h"],
            vertical_id=r["lead__vertical_id"],
            publisher_id=r["lead__publisher_id"],
            campaign_id=r["campaign_id"],
            buyer_id=r["campaign__buyer_id"],
            kind=r["kind"],
            outcome=r["outcome"][:16],
            calls=r["n_calls"],
            total_ms=r["s_ms"] or 0,
            **{name: r[name] for name in BUCKET_FIELDS},
        )
        for r in TransactionLog.objects.filter(
            kind__in=(LogKind.PING, LogKind.POST),
            is_test=False,
            lead__isnull=False,
            campaign__isnull=False,
            created_at__gte=start,
            created_at__lt=end,
        )
        .values(
            "kind",
            "outcome",
            "campaign_id",
            "campaign__buyer_id",
            "lead__vertical_id",
            "lead__publisher_id",
            h=TruncHour("created_at"),
        )
        .annotate(n_calls=Count("id"), s_ms=Sum("duration_ms"), **buckets)
        .order_by()
    ]


def _reasons(start: datetime, end: datetime) -> list[ReasonHour]:
    counts: Counter[tuple[Any, ...]] = Counter()
    # A lead's reasons are a short list; rows are grouped by the whole list in SQL and
    # only the few distinct lists are split here.
    for r in (
        Lead.objects.filter(
            is_test=False, status=LeadStatus.NO_SALE, created_at__gte=start, created_at__lt=end
        )
        .values("vertical_id", "publisher_id", "reasons", h=TruncHour("created_at"))
        .annotate(n=Count("id"))
        .order_by()
    ):
        for reason in _as_list(r["reasons"]) or ["unknown"]:
            counts[(r["h"], r["vertical_id"], r["publisher_id"], None, None, "ping", reason)] += r[
                "n"
            ]
    for r in (
        Delivery.objects.filter(
            lead__is_test=False, status__in=REFUSED, updated_at__gte=start, updated_at__lt=end
        )
        .values(
            "campaign_id",
            "campaign__buyer_id",
            "lead__vertical_id",
            "lead__publisher_id",
            "status",
            "reason",
            h=TruncHour("updated_at"),
        )
        .annotate(n=Count("id"))
        .order_by()
    ):
        reason = (r["reason"] or r["status"])[:100]
        key = (
            r["h"],
            r["lead__vertical_id"],
            r["lead__publisher_id"],
            r["campaign_id"],
            r["campaign__buyer_id"],
            "post",
            reason,
        )
        counts[key] += r["n"]
    return [
        ReasonHour(
            hour=h,
            vertical_id=v,
            publisher_id=p,
            campaign_id=c,
            buyer_id=b,
            stage=stage,
            reason=str(reason)[:100],
            count=n,
        )
        for (h, v, p, c, b, stage, reason), n in counts.items()
    ]


def _as_list(value: Any) -> Iterable[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value else []
