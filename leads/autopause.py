"""Auto-pause: campaigns whose pings time out too often or answer too slowly stop being pinged.

A periodic task reads the transaction log over the last ``AUTOPAUSE_WINDOW_SECONDS``
(but never before the campaign was last changed or resumed, so a resumed campaign is
judged on fresh calls) and pauses a campaign when, over at least
``AUTOPAUSE_MIN_CALLS`` pings, its timeout rate passes ``Campaign.max_timeout_rate``
or its p95 latency passes ``Campaign.max_p95_latency_ms``. The reason is kept on the
campaign, which the config cache then treats as not live, until an account manager
resumes it (``buyers.services.resume_campaigns``, the campaign admin's action).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from buyers.choices import Outcome
from buyers.models import Campaign
from exchange.config_cache import mark_config_changed

from .choices import LogKind
from .models import TransactionLog

log = logging.getLogger(__name__)


def _setting(name: str) -> int:
    return int(settings.SWITCHYARD[name])


@dataclass(frozen=True, slots=True)
class PingHealth:
    """A campaign's live pings over the window."""

    campaign_id: int
    calls: int
    timeouts: int
    slow: int  # calls slower than the campaign's p95 limit

    @property
    def timeout_rate(self) -> Decimal:
        return (Decimal(100) * self.timeouts / self.calls).quantize(Decimal("0.1"))


def ping_health(now: datetime | None = None) -> list[PingHealth]:
    """The window's ping counts for every live campaign with a limit (one grouped query).

    The p95 latency is above a limit exactly when more than 5% of the calls took
    longer than it, so a count against the campaign's own column answers it in SQL
    on any database.
    """
    now = now or timezone.now()
    since = now - timedelta(seconds=_setting("AUTOPAUSE_WINDOW_SECONDS"))
    rows = (
        TransactionLog.objects.filter(kind=LogKind.PING, is_test=False, created_at__gte=since)
        .filter(created_at__gte=F("campaign__updated_at"))
        .filter(campaign__is_active=True, campaign__paused_reason="")
        .filter(
            Q(campaign__max_timeout_rate__isnull=False)
            | Q(campaign__max_p95_latency_ms__isnull=False)
        )
        .values("campaign_id")
        .annotate(
            calls=Count("pk"),
            timeouts=Count("pk", filter=Q(outcome=Outcome.TIMEOUT)),
            slow=Count("pk", filter=Q(duration_ms__gt=F("campaign__max_p95_latency_ms"))),
        )
    )
    return [PingHealth(r["campaign_id"], r["calls"], r["timeouts"], r["slow"]) for r in rows]


def p95_latency_ms(campaign_id: int, since: datetime) -> int:
    """The 95th percentile of a campaign's ping durations since ``since`` (nearest rank)."""
    durations = sorted(
        TransactionLog.objects.filter(
            campaign_id=campaign_id, kind=LogKind.PING, is_test=False, created_at__gte=since
        ).values_list("duration_ms", flat=True)
    )
    if not durations:
        return 0
    return durations[max(0, math.ceil(0.95 * len(durations)) - 1)]


def pause_unhealthy_campaigns(now: datetime | None = None) -> list[Campaign]:
    """Pause every campaign breaking its ping limits; returns the campaigns paused."""
    now = now or timezone.now()
    window = _setting("AUTOPAUSE_WINDOW_SECONDS")
    minimum = _setting("AUTOPAUSE_MIN_CALLS")
    health = {h.campaign_id: h for h in ping_health(now) if h.calls >= minimum}
    if not health:
        return []
    paused = []
    for campaign in Campaign.objects.filter(pk__in=health):
        h = health[campaign.pk]
        reason = ""
        if campaign.max_timeout_rate is not None and h.timeout_rate > campaign.max_timeout_rate:
            reason = (
                f"ping timeout rate {h.timeout_rate}% over the last {window} s "
                f"(limit {campaign.max_timeout_rate}%, {h.calls} pings)"
            )
        elif campaign.max_p95_latency_ms is not None and h.slow * 20 > h.calls:
            since = max(now - timedelta(seconds=window), campaign.updated_at)
            reason = (
                f"ping p95 latency {p95_latency_ms(campaign.pk, since)} ms over the last "
                f"{window} s (limit {campaign.max_p95_latency_ms} ms, {h.calls} pings)"
            )
        if reason and pause_campaign(campaign, reason, now=now):
            paused.append(campaign)
    return paused


def pause_campaign(campaign: Campaign, reason: str, *, now: datetime | None = None) -> bool:
    """Pause one campaign with a visible reason; False when it was already paused."""
    now = now or timezone.now()
    with transaction.atomic():
        moved = Campaign.objects.filter(pk=campaign.pk, paused_reason="").update(
            paused_reason=reason[:200], paused_at=now, updated_at=now
        )
        if moved:
            # A queryset update sends no signal: tell the config cache directly.
            mark_config_changed()
    if moved:
        campaign.paused_reason, campaign.paused_at = reason[:200], now
        log.warning("campaign %s auto-paused: %s", campaign.slug, reason)
    return bool(moved)
