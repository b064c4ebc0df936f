"""Reading the outbound call log (``TransactionLog``) for buyers' circuit breakers.

The log is the leads' (every row names its lead); the breakers below it need its recent
counts per endpoint, so this reader is registered with ``buyers.circuits`` when the app
loads (``leads.apps``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from django.db.models import Count, Q

from .models import TransactionLog


def count_recent_calls(
    campaign_ids: Collection[int],
    kinds: Collection[str],
    since: datetime,
    failure_outcomes: Collection[str],
    not_a_call: Collection[str],
) -> list[tuple[int, str, int, int]]:
    """(campaign, kind, calls, failures) of live calls since ``since`` (one grouped query)."""
    rows = (
        TransactionLog.objects.filter(
            campaign_id__in=campaign_ids, kind__in=kinds, is_test=False, created_at__gte=since
        )
        .values("campaign_id", "kind")
        .annotate(
            calls=Count("pk", filter=~Q(outcome__in=not_a_call)),
            failures=Count("pk", filter=Q(outcome__in=failure_outcomes)),
        )
    )
    return [(r["campaign_id"], r["kind"], r["calls"], r["failures"]) for r in rows]
