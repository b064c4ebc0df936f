"""Suppression and duplicate checks, by keyed hashes of phone and email."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from .choices import LeadStatus
from .models import Lead, Suppression

_LIVE = (LeadStatus.POSTING, LeadStatus.PENDING, LeadStatus.SOLD)


def _match(phone_hash: str, email_hash: str) -> Q:
    q = Q()
    if phone_hash:
        q |= Q(phone_hash=phone_hash)
    if email_hash:
        q |= Q(email_hash=email_hash)
    return q


def is_suppressed(phone_hash: str, email_hash: str) -> bool:
    return Suppression.objects.filter(_match(phone_hash, email_hash)).exists()


def is_global_duplicate(phone_hash: str, email_hash: str, now: datetime, vertical_id: int) -> bool:
    """The same person sold, or being sold, in this vertical within the window."""
    since = now - timedelta(days=settings.SWITCHYARD["DUPLICATE_WINDOW_DAYS"])
    return (
        Lead.objects.filter(_match(phone_hash, email_hash))
        .filter(vertical_id=vertical_id, is_test=False, status__in=_LIVE, created_at__gte=since)
        .exists()
    )


def duplicate_buyers(
    phone_hash: str, email_hash: str, windows: Mapping[int, int], now: datetime
) -> set[int]:
    """Buyers (of ``windows``: buyer id -> days) that bought this person within their window."""
    if not windows:
        return set()
    since = now - timedelta(days=max(windows.values()))
    rows = (
        Lead.objects.filter(_match(phone_hash, email_hash))
        .filter(is_test=False, sold_at__gte=since, sold_campaign__buyer_id__in=list(windows))
        .values_list("sold_campaign__buyer_id", "sold_at")
    )
    return {b for b, sold_at in rows if sold_at and sold_at >= now - timedelta(days=windows[b])}
