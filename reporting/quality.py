"""Campaigns' quality counts for ``expected_revenue`` routing, from the hourly rollups.

Every few minutes (beat: ``reporting.tasks.refresh_quality``) each campaign's posts
answered and accepted, sales and returns over the last ``QUALITY_WINDOW_DAYS`` are
summed from ``TrafficHour`` and written to ``exchange.CampaignQuality``, where the
configuration cache reads them (``exchange.quality`` turns them into weights). The
configuration revision moves only when a count changed, so quiet hours rebuild nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from exchange.config_cache import mark_config_changed
from exchange.models import CampaignQuality

from .rollup_models import TrafficHour

COUNTS = ("delivered", "accepted", "sold", "returns")


@dataclass(frozen=True, slots=True)
class QualityRefresh:
    campaigns: int
    changed: int


def refresh_quality(now: datetime | None = None) -> QualityRefresh:
    """Write every campaign's counts over the window; returns how many changed."""
    now = now or timezone.now()
    days = settings.QUALITY_WINDOW_DAYS
    since = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    sums = {
        r["campaign_id"]: tuple(r[name] or 0 for name in COUNTS)
        for r in TrafficHour.objects.filter(hour__gte=since, campaign__isnull=False)
        .values("campaign_id")
        .annotate(**{name: Sum(name) for name in COUNTS})
        .order_by()
    }
    with transaction.atomic():
        known = {
            q.campaign_id: q
            for q in CampaignQuality.objects.select_for_update().filter(campaign_id__in=sums)
        }
        changed = []
        for campaign_id, counts in sums.items():
            row = known.get(campaign_id) or CampaignQuality(campaign_id=campaign_id)
            if campaign_id in known and tuple(getattr(row, n) for n in COUNTS) == counts:
                continue
            for name, value in zip(COUNTS, counts, strict=True):
                setattr(row, name, value)
            row.window_days, row.computed_at = days, now
            changed.append(row)
        for row in changed:
            row.save()
        # Campaigns whose window emptied go back to the prior.
        gone = CampaignQuality.objects.exclude(campaign_id__in=sums).delete()[0]
        if changed or gone:
            mark_config_changed()
    return QualityRefresh(len(sums), len(changed) + gone)
