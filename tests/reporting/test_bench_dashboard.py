"""bench_dashboard times the real dashboard view for a month (the figure for the
README comes from running it on the PostgreSQL bench data, not from a timed test)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.reporting.traffic import build_market, send

pytestmark = pytest.mark.django_db


def test_bench_dashboard_rebuilds_and_times_a_month(api: Any, buyer_server: Any) -> None:
    send(api, build_market(buyer_server), [("acme", "good", "post")], start=1)
    out = io.StringIO()
    month = timezone.localdate().strftime("%Y-%m")
    call_command("bench_dashboard", "--month", month, "--repeat", "2", "--rebuild", stdout=out)
    text = out.getvalue()
    assert "rebuilt the month's rollups" in text
    assert "by day: median" in text and "by hour: median" in text
    assert "publisher=" in text


def test_bench_dashboard_wants_a_month() -> None:
    with pytest.raises(CommandError):
        call_command("bench_dashboard", "--month", "October")


def test_the_synthetic_fill_writes_a_month_on_postgresql_and_refuses_elsewhere() -> None:
    from django.db import connection

    from reporting.models import TrafficHour

    out = io.StringIO()
    if connection.vendor != "postgresql":
        with pytest.raises(RuntimeError, match="PostgreSQL only"):
            call_command("bench_dashboard", "--month", "2026-10", "--fill", "10", stdout=out)
        return
    call_command(
        "bench_dashboard", "--month", "2026-10", "--fill", "500", "--repeat", "1", stdout=out
    )
    rows = TrafficHour.objects.filter(hour__year=2026, hour__month=10)
    assert sum(r.pings for r in rows) == 500
    assert sum(r.sold for r in rows) == 200  # two leads in five
