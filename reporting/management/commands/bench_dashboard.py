"""``manage.py bench_dashboard --month 2026-10``: how long /reports/ takes for a month."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exchange.models import Publisher
from reporting.bench import fill_month, month_bounds, rollup_rows, time_dashboard
from reporting.dashboard import day_range
from reporting.rollups import rebuild


class Command(BaseCommand):
    help = (
        "Time the dashboard for a month (by day and by hour, whole and narrowed). "
        "--rebuild recomputes the month's rollups first; --fill N writes N synthetic leads "
        "over the month first (PostgreSQL only)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--repeat", type=int, default=5)
        parser.add_argument(
            "--rebuild", dest="do_rebuild", action="store_true", help="rebuild_rollups first"
        )
        parser.add_argument("--fill", type=int, default=0, help="synthetic leads to write first")

    def handle(
        self, *args: Any, month: str, repeat: int, do_rebuild: bool, fill: int, **o: Any
    ) -> None:
        try:
            first, last = month_bounds(month)
        except ValueError as exc:
            raise CommandError(f"--month must be YYYY-MM, not {month!r}") from exc
        start, end = day_range(first, last)
        if fill:
            started = time.perf_counter()
            fill_month(start, end, fill)
            self.stdout.write(f"filled {fill} leads in {time.perf_counter() - started:.1f} s")
        if do_rebuild or fill:
            started = time.perf_counter()
            done = rebuild(start, end)
            self.stdout.write(
                f"rebuilt the month's rollups ({done.rows} rows) in "
                f"{time.perf_counter() - started:.1f} s"
            )
        traffic, calls = rollup_rows(start, end)
        self.stdout.write(f"rollup rows in the month: {traffic} traffic, {calls} calls")
        for by, filters in (("day", {}), ("hour", {}), ("day", {"publisher": _first_publisher()})):
            timing = time_dashboard(first, last, by=by, repeat=repeat, **filters)
            self.stdout.write(
                f"{timing.label}: median {timing.median_ms:.0f} ms, worst {timing.worst_ms:.0f} ms "
                f"over {len(timing.runs_ms)} runs"
            )


def _first_publisher() -> int:
    first = Publisher.objects.order_by("pk").values_list("pk", flat=True).first()
    return first or 0
