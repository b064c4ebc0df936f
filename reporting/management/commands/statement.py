"""``manage.py statement buyer|publisher SLUG --from D --to D [--csv]``"""

from __future__ import annotations

import csv
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from buyers.models import Buyer
from exchange.models import Publisher
from leads.periods import exchange_zone
from reporting.statements import (
    PARTIES,
    PeriodInvalid,
    csv_rows,
    money,
    parse_period,
    party_statement,
)

OWNERS: dict[str, Any] = {"buyer": Buyer, "publisher": Publisher}


class Command(BaseCommand):
    help = (
        "Print a buyer's or publisher's statement for a period (days in the exchange's "
        "TIME_ZONE, --to inclusive); --csv writes one row per ledger entry and a total."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("party", choices=PARTIES)
        parser.add_argument("slug")
        parser.add_argument("--from", dest="first", help="YYYY-MM-DD (default: 1st of this month)")
        parser.add_argument("--to", dest="last", help="YYYY-MM-DD inclusive (default: today)")
        parser.add_argument("--csv", action="store_true", help="CSV rows instead of totals")

    def handle(self, *args: Any, **options: Any) -> None:
        party = options["party"]
        try:
            owner = OWNERS[party].objects.get(slug=options["slug"])
        except OWNERS[party].DoesNotExist as exc:
            raise CommandError(f"no {party} with slug {options['slug']!r}") from exc
        try:
            period = parse_period(options["first"], options["last"])
        except PeriodInvalid as exc:
            raise CommandError(str(exc)) from exc
        if options["csv"]:
            writer = csv.writer(self.stdout, lineterminator="\n")
            for row in csv_rows(party, owner, period.start, period.end):
                writer.writerow(row)
            return
        s = party_statement(party, owner, period.start, period.end)
        side = "owes" if party == "buyer" else "is paid"
        self.stdout.write(
            f"{party} {owner.slug} ({owner.name}) {side}, {period} ({exchange_zone()})"
        )
        for label, value in (
            ("leads sold", str(s.sales_count)),
            ("gross", money(s.sales_amount)),
            (f"returns ({s.returns_count})", money(s.returns_amount)),
            (f"adjustments ({s.adjustments_count})", money(s.adjustments_amount)),
            ("net", money(s.net)),
        ):
            self.stdout.write(f"  {label:<20}{value:>14}")
