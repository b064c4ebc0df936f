"""``manage.py rebuild_rollups --from 2026-10-01 --to 2026-10-31``: recompute the
dashboard's hourly rollups of a range of days from the raw rows."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reporting.dashboard import day_range
from reporting.rollups import rebuild


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = "Recompute the hourly rollups of the days --from .. --to (inclusive) from raw rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", required=True, help="last day, YYYY-MM-DD")

    def handle(self, *args: Any, first: str, last: str, **options: Any) -> None:
        start, end = day_range(_day(first), _day(last))
        if end <= start:
            raise CommandError("--to must not be before --from")
        done = rebuild(start, end)
        self.stdout.write(
            f"rebuilt {done.start:%Y-%m-%d %H:%M} to {done.end:%Y-%m-%d %H:%M}: {done.rows} rows"
        )
