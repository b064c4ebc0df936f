"""The hourly rollups are kept current as leads flow, and a rebuild from the raw rows
gives exactly the rows the live refreshes left, however often either runs."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from reporting import rollups
from reporting.models import CallHour, ReasonHour, RollupState, TrafficHour
from reporting.tasks import refresh_rollups
from tests.reporting.traffic import build_market, give_back, send

pytestmark = pytest.mark.django_db

MIX = [
    ("acme", "good", "post"),
    ("acme", "excellent", "post"),
    ("acme", "poor", "ping"),
    ("zeta", "good", "direct"),
    ("zeta", "excellent", "direct"),
]


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    def rows(model: Any) -> list[tuple[Any, ...]]:
        names = [f.attname for f in model._meta.concrete_fields if f.name != "id"]
        return sorted(model.objects.values_list(*names), key=repr)  # duplicates count

    return {m.__name__: rows(m) for m in (TrafficHour, CallHour, ReasonHour)}


def test_a_rebuild_gives_exactly_the_rows_the_live_refreshes_left(
    api: Any, buyer_server: Any
) -> None:
    market = build_market(buyer_server)
    sold = send(api, market, MIX, start=1)
    refresh_rollups()  # the beat task
    send(api, market, MIX, start=50)
    give_back(api, market, sold, 1)  # a return after the sale's hour was refreshed
    refresh_rollups()
    live = snapshot()
    assert all(live.values())
    assert TrafficHour.objects.filter(returns=1).exists()

    today = timezone.localdate()
    call_command("rebuild_rollups", "--from", str(today), "--to", str(today), stdout=io.StringIO())
    assert snapshot() == live
    rollups.refresh()  # and once more: a replay changes nothing
    assert snapshot() == live


def test_rollup_rows_count_sales_and_pings_of_the_hour(api: Any, buyer_server: Any) -> None:
    market = build_market(buyer_server)
    sold = send(api, market, MIX, start=1)
    rollups.refresh()
    lead_rows = TrafficHour.objects.filter(campaign__isnull=True)
    assert sum(r.pings for r in lead_rows) == len(MIX)
    assert sum(r.sold for r in TrafficHour.objects.all()) == len(sold)
    crash = CallHour.objects.filter(campaign=market.campaigns["crash"])
    assert {(c.kind, c.outcome) for c in crash} == {("ping", "http_error")}
    assert sum(c.calls for c in crash) == len(MIX)  # one row per publisher


def test_a_refresh_that_dies_half_way_leaves_the_previous_rows(
    api: Any, buyer_server: Any, monkeypatch: Any
) -> None:
    market = build_market(buyer_server)
    send(api, market, MIX, start=1)
    rollups.refresh()
    before = snapshot()
    send(api, market, MIX, start=50)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("worker killed")

    monkeypatch.setattr(rollups.CallHour.objects, "bulk_create", crash)
    with pytest.raises(RuntimeError):
        rollups.refresh()
    assert snapshot() == before  # the deletes were rolled back with it
    monkeypatch.undo()
    rollups.refresh()
    assert sum(r.pings for r in TrafficHour.objects.all()) == 2 * len(MIX)


def test_a_refresh_reaches_back_from_its_mark_by_the_slack(settings: Any) -> None:
    settings.ROLLUP_SLACK_SECONDS = 600
    now = timezone.now().replace(minute=5, second=0, microsecond=0)
    RollupState.objects.create(pk=1, refreshed_through=now - timedelta(hours=3))
    done = rollups.refresh(now)
    assert done.start == (now - timedelta(hours=3, minutes=10)).replace(minute=0)
    assert done.end == now.replace(minute=0) + timedelta(hours=1)
    assert RollupState.objects.get().refreshed_through == now


def test_rebuild_rollups_refuses_a_bad_range() -> None:
    with pytest.raises(CommandError):
        call_command("rebuild_rollups", "--from", "2026-10-31", "--to", "2026-10-01")
    with pytest.raises(CommandError):
        call_command("rebuild_rollups", "--from", "October", "--to", "2026-10-01")
