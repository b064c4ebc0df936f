"""``manage.py close_period YYYY-MM``: close an accounting month."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leads.periods import PeriodError, close_period, parse_month


class Command(BaseCommand):
    help = (
        "Close a month (in the exchange's TIME_ZONE): no ledger entry may be dated in it "
        "afterwards; later returns and adjustments are booked in the open month."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("month", help="YYYY-MM, a month that is over")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            period = close_period(parse_month(options["month"]))
        except PeriodError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Closed {period.month:%Y-%m}: {period.starts_at.isoformat()} to "
            f"{period.ends_at.isoformat()}."
        )
