"""Operations under real concurrency on PostgreSQL: 20 threads raising the same alert
at the same instant store exactly one; refreshes racing each other and a rebuild leave
the same rollup rows as one rebuild alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from reporting import alerts, rollups
from reporting.models import Alert, CallHour, ReasonHour, TrafficHour
from tests.integration.test_caps_concurrency import at_once
from tests.reporting.traffic import build_market, send

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="these races need PostgreSQL (set DATABASE_URL to PostgreSQL)",
    ),
]


def test_twenty_checkers_raising_one_alert_at_once_store_exactly_one() -> None:
    now = timezone.now()
    raised = at_once(
        [
            lambda: alerts.raise_alert(
                "circuit_opened", "endpoint:7", "Circuit opened", {}, now=now
            )
            for _ in range(20)
        ]
    )
    assert sum(a is not None for a in raised) == 1
    assert Alert.objects.count() == 1


def rows() -> dict[str, list[tuple[Any, ...]]]:
    def of(model: Any) -> list[tuple[Any, ...]]:
        names = [f.attname for f in model._meta.concrete_fields if f.name != "id"]
        return sorted(model.objects.values_list(*names), key=repr)  # duplicates count

    return {m.__name__: of(m) for m in (TrafficHour, CallHour, ReasonHour)}


def test_racing_refreshes_and_a_rebuild_leave_the_rows_of_one_rebuild(
    api: Any, buyer_server: Any
) -> None:
    market = build_market(buyer_server)
    send(api, market, [("acme", "good", "post"), ("zeta", "excellent", "direct")] * 3, start=1)
    now = timezone.now()
    start = rollups.floor_hour(now) - rollups.HOUR
    end = rollups.floor_hour(now) + rollups.HOUR
    at_once([lambda: rollups.refresh(now)] * 4 + [lambda: rollups.rebuild(start, end)] * 4)
    raced = rows()
    rollups.rebuild(start, end)
    assert rows() == raced
    assert sum(r.pings for r in TrafficHour.objects.all()) == 6
