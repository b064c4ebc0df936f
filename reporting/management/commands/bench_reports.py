"""``manage.py bench_reports --leads 1000000 --month 2026-10``: the report speed bench.

Fills PostgreSQL with a month of sold leads and their ledger rows (one INSERT ...
SELECT over generate_series per table: no Python loop over rows), then times the
finance pages as a user opens them and prints a table. The timed steps are a list of
named callables (``steps``), so another report (the dashboard) is one more entry.

The data is marked: a vertical ``bench``, buyers ``bench-b..``, publishers
``bench-p..``. Run it on a database you can spare; it refuses SQLite and a closed month.
"""

from __future__ import annotations

import re
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.test import RequestFactory
from django.utils import timezone

from buyers.models import Buyer, Campaign
from exchange.models import Publisher, Vertical
from leads.models import Lead
from leads.periods import (
    PeriodError,
    is_closed,
    month_bounds,
    month_of,
    next_month,
    parse_month,
)
from reporting import finance_views
from reporting.statements import cents

RETURN_EVERY = 50  # one lead in 50 comes back


@dataclass
class Result:
    name: str
    seconds: float
    detail: str = ""


class Command(BaseCommand):
    help = "Fill PostgreSQL with a month of sold leads and time the finance reports."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=1_000_000)
        parser.add_argument("--month", default="", help="YYYY-MM (default: last month)")
        parser.add_argument("--buyers", type=int, default=10)
        parser.add_argument("--publishers", type=int, default=4)
        parser.add_argument(
            "--skip-fill", action="store_true", help="time what an earlier run filled"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("the bench needs PostgreSQL (set DATABASE_URL)")
        try:
            month = parse_month(options["month"]) if options["month"] else _last_month()
        except PeriodError as exc:
            raise CommandError(str(exc)) from exc
        if is_closed(month):
            raise CommandError(f"{month:%Y-%m} is closed: the bench cannot write into it")
        results: list[Result] = []
        if not options["skip_fill"]:
            started = time.perf_counter()
            count = self.fill(month, options["leads"], options["buyers"], options["publishers"])
            results.append(
                Result(
                    "fill (insert + vacuum analyze)",
                    time.perf_counter() - started,
                    f"{count:,} leads",
                )
            )
        buyer, publisher = self.biggest(month)
        self.warm_up(month, buyer)
        results += [self.run(name, step) for name, step in self.steps(month, buyer, publisher)]
        self.report(month, results)

    # --- the data --------------------------------------------------------------------------

    def fill(self, month: date, leads: int, buyers: int, publishers: int) -> int:
        start, end = month_bounds(month)
        vertical, _ = Vertical.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
        campaigns = []
        for n in range(buyers):
            buyer, _ = Buyer.objects.get_or_create(
                slug=f"bench-b{n:02d}", defaults={"name": f"Bench buyer {n:02d}"}
            )
            campaign, _ = Campaign.objects.get_or_create(
                slug=f"bench-c{n:02d}", defaults={"buyer": buyer, "vertical": vertical}
            )
            campaigns.append(campaign.pk)
        sellers = [
            Publisher.objects.get_or_create(
                slug=f"bench-p{n:02d}",
                defaults={"name": f"Bench publisher {n:02d}", "payout_percent": Decimal(80)},
            )[0].pk
            for n in range(publishers)
        ]
        pii = Lead._meta.get_field("pii").get_db_prep_value({}, connection)
        span = (end - start).total_seconds()
        self.stdout.write(f"Filling {leads:,} leads over {month:%Y-%m}...")
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as raw:
            cursor = Timed(raw, self.stdout)
            # Spread over the month, prices from 2.0000 to 46.9999 (some with fractions
            # of a cent), each lead to a campaign and from a publisher in turn.
            cursor.execute(
                """
                INSERT INTO leads_lead (id, sub_id, is_test, status, data, pii, phone_hash,
                    email_hash, price, payout, reasons, trace, created_at, posted_at, sold_at,
                    updated_at, publisher_id, sold_campaign_id, vertical_id)
                SELECT gen_random_uuid(), '', false,
                    CASE WHEN g %% %(every)s = 0 THEN 'returned' ELSE 'sold' END,
                    '{}'::jsonb, %(pii)s, '', '', price, round(price * 0.8, 2), '[]'::jsonb,
                    '[]'::jsonb, at, at, at, at,
                    (%(sellers)s::bigint[])[1 + (g / 7) %% %(n_sellers)s],
                    (%(campaigns)s::bigint[])[1 + g %% %(n_campaigns)s], %(vertical)s
                FROM (
                    SELECT g,
                        %(start)s::timestamptz + make_interval(secs => (g - 1) * %(step)s) AS at,
                        round(2 + ((g::bigint * 7919) %% 450000) / 10000.0, 4)::numeric(12, 4)
                            AS price
                    FROM generate_series(1, %(n)s) AS g
                ) AS s
                """,
                {
                    "every": RETURN_EVERY,
                    "pii": pii,
                    "sellers": sellers,
                    "n_sellers": len(sellers),
                    "campaigns": campaigns,
                    "n_campaigns": len(campaigns),
                    "vertical": vertical.pk,
                    "start": start,
                    "step": span / leads,
                    "n": leads,
                },
            )
            window = {"vertical": vertical.pk, "start": start, "end": end}
            cursor.execute(
                """
                INSERT INTO leads_ledgerentry (kind, charge, payout, margin, reason, created_at,
                    buyer_id, campaign_id, lead_id, publisher_id, remnant)
                SELECT 'sale', l.price, l.payout, l.price - l.payout, '', l.sold_at,
                    c.buyer_id, l.sold_campaign_id, l.id, l.publisher_id, c.fallback
                FROM leads_lead l JOIN buyers_campaign c ON c.id = l.sold_campaign_id
                WHERE l.vertical_id = %(vertical)s AND l.sold_at >= %(start)s
                    AND l.sold_at < %(end)s
                    AND NOT EXISTS (SELECT 1 FROM leads_ledgerentry e
                                    WHERE e.lead_id = l.id AND e.kind = 'sale')
                """,
                window,
            )
            # Returns an hour after the sale, inside the month: the Return row and the
            # exact negation of the sale, linked to it.
            cursor.execute(
                """
                INSERT INTO leads_return (reason, note, created_at, buyer_id, lead_id)
                SELECT 'bad_data', '', least(e.created_at + interval '1 hour',
                    %(end)s::timestamptz - interval '1 second'), e.buyer_id, e.lead_id
                FROM leads_ledgerentry e JOIN leads_lead l ON l.id = e.lead_id
                WHERE e.kind = 'sale' AND l.status = 'returned' AND l.vertical_id = %(vertical)s
                    AND e.created_at >= %(start)s AND e.created_at < %(end)s
                    AND NOT EXISTS (SELECT 1 FROM leads_return r WHERE r.lead_id = l.id)
                """,
                window,
            )
            cursor.execute(
                """
                INSERT INTO leads_ledgerentry (kind, charge, payout, margin, reason, created_at,
                    buyer_id, campaign_id, lead_id, publisher_id, reverses_id, remnant)
                SELECT 'return', -e.charge, -e.payout, -e.margin, 'return: bad_data',
                    r.created_at, e.buyer_id, e.campaign_id, e.lead_id, e.publisher_id, e.id,
                    e.remnant
                FROM leads_return r
                JOIN leads_ledgerentry e ON e.lead_id = r.lead_id AND e.kind = 'sale'
                JOIN leads_lead l ON l.id = r.lead_id
                WHERE l.vertical_id = %(vertical)s AND r.created_at >= %(start)s
                    AND r.created_at < %(end)s
                    AND NOT EXISTS (SELECT 1 FROM leads_ledgerentry x WHERE x.reverses_id = e.id)
                """,
                window,
            )
            raw.execute(
                "SELECT count(*) FROM leads_lead WHERE vertical_id = %s AND sold_at >= %s"
                " AND sold_at < %s",
                [vertical.pk, start, end],
            )
            total = raw.fetchone()[0]
        self.stdout.write(f"    committed after {time.perf_counter() - started:.1f} s")
        with connection.cursor() as vacuum:
            # Index-only scans need the visibility map; the planner needs fresh stats.
            for table in ("leads_lead", "leads_ledgerentry", "leads_return"):
                Timed(vacuum, self.stdout).execute(f"VACUUM ANALYZE {table}", None)
        return int(total)

    def biggest(self, month: date) -> tuple[Buyer, Publisher]:
        start, end = month_bounds(month)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT buyer_id FROM leads_ledgerentry WHERE created_at >= %s AND created_at < %s"
                " AND buyer_id IS NOT NULL GROUP BY buyer_id ORDER BY count(*) DESC LIMIT 1",
                [start, end],
            )
            buyer_row = cursor.fetchone()
            cursor.execute(
                "SELECT publisher_id FROM leads_ledgerentry WHERE created_at >= %s"
                " AND created_at < %s AND publisher_id IS NOT NULL"
                " GROUP BY publisher_id ORDER BY count(*) DESC LIMIT 1",
                [start, end],
            )
            publisher_row = cursor.fetchone()
        if buyer_row is None or publisher_row is None:
            raise CommandError(f"no ledger rows in {month:%Y-%m}: run without --skip-fill")
        return Buyer.objects.get(pk=buyer_row[0]), Publisher.objects.get(pk=publisher_row[0])

    # --- the timed steps -------------------------------------------------------------------

    def steps(
        self, month: date, buyer: Buyer, publisher: Publisher
    ) -> list[tuple[str, Callable[[], str]]]:
        """The named steps, each returning a detail for the table. Add a report here."""
        first, last = f"{month:%Y-%m-%d}", f"{next_month(month) - date.resolution:%Y-%m-%d}"
        period = f"from={first}&to={last}"
        csv_url = f"/reports/statements/publisher/{publisher.slug}/?{period}&format=csv"
        return [
            (
                f"buyer statement page ({buyer.slug})",
                lambda: self.page(
                    f"/reports/statements/buyer/{buyer.slug}/?{period}",
                    finance_views.statement_view,
                    "buyer",
                    buyer.slug,
                ),
            ),
            (
                f"publisher statement page ({publisher.slug})",
                lambda: self.page(
                    f"/reports/statements/publisher/{publisher.slug}/?{period}",
                    finance_views.statement_view,
                    "publisher",
                    publisher.slug,
                ),
            ),
            (
                f"reconciliation page ({month:%Y-%m})",
                lambda: self.page(
                    f"/reports/reconciliation/?month={month:%Y-%m}",
                    finance_views.reconciliation_view,
                ),
            ),
            (
                f"CSV export ({publisher.slug}, whole month)",
                lambda: self.csv(csv_url, publisher.slug),
            ),
            (
                "CSV export memory (traced run)",
                lambda: self.csv_memory(csv_url, publisher.slug),
            ),
        ]

    def warm_up(self, month: date, buyer: Buyer) -> None:
        """Render each page once over an empty period first, as a running server has:
        template compilation and URL resolution are not what the bench measures (the
        data is not touched, so no cache of it is warmed)."""
        empty = f"{month - date.resolution:%Y-%m-%d}"
        self.page(
            f"/reports/statements/buyer/{buyer.slug}/?from={empty}&to={empty}",
            finance_views.statement_view,
            "buyer",
            buyer.slug,
        )
        before = (month - date.resolution).replace(day=1)
        self.page(
            f"/reports/reconciliation/?month={before:%Y-%m}", finance_views.reconciliation_view
        )

    def run(self, name: str, step: Callable[[], str]) -> Result:
        self.stdout.write(f"  {name}...")
        started = time.perf_counter()
        detail = step()
        return Result(name, time.perf_counter() - started, detail)

    def request(self, url: str) -> Any:
        request = RequestFactory().get(url)
        # An unsaved superuser: every permission, no row written by the bench.
        request.user = get_user_model()(username="bench", is_superuser=True, is_staff=True)
        # A staff session past its second factor (OTPMiddleware sets this on real requests).
        request.user.is_verified = lambda: True  # type: ignore[attr-defined]
        request.session = {}  # type: ignore[assignment]
        request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
        return request

    def page(self, url: str, view: Callable[..., Any], *args: str) -> str:
        response = view(self.request(url), *args)
        assert response.status_code == 200, response.status_code
        detail = f"{len(response.content):,} bytes of HTML"
        if args:  # a statement: its net against the ledger's own sum
            party, slug = args
            net = re.search(rb'data-field="net">([^<]*)<', response.content)
            assert net is not None
            detail += self.against_ledger(party, slug, url, net[1].decode())
        return detail

    def against_ledger(self, party: str, slug: str, url: str, shown: str) -> str:
        month = parse_month(re.search(r"from=(\d{4}-\d{2})", url)[1])  # type: ignore[index]
        start, end = month_bounds(month)
        column = {"buyer": "charge", "publisher": "payout"}[party]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT sum(e.{column}) FROM leads_ledgerentry e"
                f" JOIN {'buyers_buyer' if party == 'buyer' else 'exchange_publisher'} o"
                f" ON o.id = e.{party}_id WHERE o.slug = %s"
                " AND e.created_at >= %s AND e.created_at < %s",
                [slug, start, end],
            )
            ledger = cents(cursor.fetchone()[0] or 0)
        same = "equals" if Decimal(shown) == ledger else "DIFFERS FROM"
        return f"; net {shown} {same} the ledger sum {ledger}"

    def csv(self, url: str, slug: str) -> str:
        response: Any = finance_views.statement_view(self.request(url), "publisher", slug)
        rows, size, last = 0, 0, b""
        for chunk in response.streaming_content:
            rows, size, last = rows + 1, size + len(chunk), bytes(chunk)
        total = last.decode().strip().split(",")[-1]
        return f"{rows - 2:,} rows, {size / 1e6:.1f} MB" + self.against_ledger(
            "publisher", slug, url, total
        )

    def csv_memory(self, url: str, slug: str) -> str:
        tracemalloc.start()
        try:
            response: Any = finance_views.statement_view(self.request(url), "publisher", slug)
            for _ in response.streaming_content:
                pass
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return f"peak Python memory while streaming: {peak / 1e6:.1f} MB (time includes tracing)"

    def report(self, month: date, results: list[Result]) -> None:
        width = max(len(r.name) for r in results)
        self.stdout.write("")
        self.stdout.write(f"{'step':<{width}}  {'seconds':>8}  detail")
        self.stdout.write(f"{'-' * width}  {'-' * 8}  {'-' * 40}")
        for r in results:
            self.stdout.write(f"{r.name:<{width}}  {r.seconds:>8.3f}  {r.detail}")


class Timed:
    """A cursor that prints how long each statement of the fill took."""

    def __init__(self, cursor: Any, out: Any) -> None:
        self.cursor, self.out = cursor, out

    def execute(self, sql: str, params: Any) -> None:
        started = time.perf_counter()
        self.cursor.execute(sql, params)
        first = " ".join(sql.split()[:3])
        self.out.write(
            f"    {first}: {self.cursor.rowcount:,} rows, {time.perf_counter() - started:.1f} s"
        )


def _last_month() -> date:
    return (month_of(timezone.now()) - date.resolution).replace(day=1)
