"""Timing the dashboard (SPEC §11: a month over 1,000,000 leads in under 1 s on
PostgreSQL), and a synthetic month of raw rows to time it on.

``time_dashboard`` renders ``/reports/`` through its real view (selectors, charts,
template) as a superuser would see it; ``fill_month`` writes leads, bids, call logs,
deliveries and sales with ``generate_series`` (PostgreSQL only), for a database that has
no bench data of its own (``manage.py bench_dashboard --fill``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import RequestFactory

from buyers.models import Buyer, Campaign
from exchange.models import Publisher, Vertical

from .dashboard_views import dashboard
from .rollup_models import CallHour, TrafficHour


@dataclass(frozen=True, slots=True)
class Timing:
    label: str
    runs_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def worst_ms(self) -> float:
        return max(self.runs_ms)


def time_dashboard(first: date, last: date, *, by: str, repeat: int = 5, **filters: Any) -> Timing:
    """Render the dashboard for ``[first, last]`` ``repeat`` times; the first run warms up."""
    user = get_user_model()(username="bench", is_superuser=True, is_staff=True, is_active=True)
    # A staff session past its second factor (OTPMiddleware sets this on real requests).
    user.is_verified = lambda: True  # type: ignore[attr-defined]
    query = {"start": str(first), "end": str(last), "by": by, **filters}
    runs = []
    for _ in range(repeat + 1):
        request = RequestFactory().get("/reports/", query)
        request.user = user
        started = time.perf_counter()
        response = dashboard(request)  # rendered: the view returns a finished page
        runs.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"the dashboard answered {response.status_code}")
    label = f"{first}..{last} by {by}" + "".join(f" {k}={v}" for k, v in filters.items())
    return Timing(label, runs[1:])


def rollup_rows(start: datetime, end: datetime) -> tuple[int, int]:
    return (
        TrafficHour.objects.filter(hour__gte=start, hour__lt=end).count(),
        CallHour.objects.filter(hour__gte=start, hour__lt=end).count(),
    )


def fill_month(start: datetime, end: datetime, leads: int) -> None:
    """Write ``leads`` synthetic leads spread over ``[start, end)`` with two bids and two
    ping calls each; about 40 % sold (a delivery and a sale ledger row each)."""
    if connection.vendor != "postgresql":
        raise RuntimeError("the synthetic fill uses generate_series: PostgreSQL only")
    vertical = Vertical.objects.order_by("pk").first() or Vertical.objects.create(
        slug="bench-vertical", name="Bench vertical"
    )
    publishers = list(Publisher.objects.order_by("pk")[:5])
    while len(publishers) < 5:
        n = len(publishers)
        publishers.append(Publisher.objects.create(slug=f"bench-pub-{n}", name=f"Bench pub {n}"))
    campaigns = list(Campaign.objects.filter(vertical=vertical).order_by("pk")[:10])
    while len(campaigns) < 10:
        n = len(campaigns)
        buyer = Buyer.objects.create(slug=f"bench-buyer-{n}", name=f"Bench buyer {n}")
        campaigns.append(
            Campaign.objects.create(buyer=buyer, vertical=vertical, slug=f"bench-c-{n}")
        )
    params: dict[str, Any] = {
        "start": start,
        "seconds": (end - start).total_seconds(),
        "n": leads,
        "vertical": vertical.pk,
        "pubs": [p.pk for p in publishers],
        "camps": [c.pk for c in campaigns],
        "buyers": [c.buyer_id for c in campaigns],
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TEMP TABLE bench_leads ON COMMIT DROP AS
            SELECT gen_random_uuid() AS id, i,
                   %(start)s::timestamptz
                       + ((i - 1) * %(seconds)s / %(n)s) * interval '1 second' AS at,
                   (%(pubs)s::bigint[])[1 + i %% 5] AS publisher_id,
                   (%(camps)s::bigint[])[1 + i %% 10] AS c1,
                   (%(camps)s::bigint[])[1 + (i + 3) %% 10] AS c2,
                   (%(buyers)s::bigint[])[1 + i %% 10] AS b1,
                   (i %% 5 < 2) AS sold
            FROM generate_series(1, %(n)s) AS i
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO leads_lead (id, vertical_id, publisher_id, sub_id, is_test, status, data,
                pii, phone_hash, email_hash, offer_price, sold_campaign_id, price, payout,
                reasons, trace, created_at, posted_at, sold_at, updated_at)
            SELECT id, %(vertical)s, publisher_id, '', false,
                   CASE WHEN sold THEN 'sold' ELSE 'no_sale' END, '{}', '', '', '',
                   CASE WHEN sold THEN 16.00 END, CASE WHEN sold THEN c1 END,
                   CASE WHEN sold THEN 20.00 END, CASE WHEN sold THEN 16.00 END,
                   CASE WHEN sold THEN '[]'::jsonb ELSE '["no_bids"]'::jsonb END, '[]', at,
                   CASE WHEN sold THEN at END, CASE WHEN sold THEN at END, at
            FROM bench_leads
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO leads_bid (lead_id, campaign_id, outcome, price, reference, rank,
                latency_ms, reason, created_at)
            SELECT id, c1, CASE WHEN sold THEN 'accepted' ELSE 'rejected' END,
                   CASE WHEN sold THEN 20.00 END, '', CASE WHEN sold THEN 1 END,
                   40 + i %% 200, '', at FROM bench_leads
            UNION ALL
            SELECT id, c2, 'accepted', 15.00, '', CASE WHEN sold THEN 2 ELSE NULL END,
                   60 + i %% 400, '', at FROM bench_leads
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO leads_transactionlog (lead_id, campaign_id, kind, is_test, method, url,
                request_headers, request_body, status_code, response_body, outcome, error,
                duration_ms, attempt, created_at)
            SELECT id, c, 'ping', false, 'POST', 'http://127.0.0.1:9/ping', '{}', '', 200, '',
                   CASE WHEN i %% 50 = 0 THEN 'timeout' ELSE 'accepted' END, '',
                   d, 1, at
            FROM (SELECT id, i, at, c1 AS c, 40 + i %% 200 AS d FROM bench_leads
                  UNION ALL SELECT id, i, at, c2, 60 + i %% 400 FROM bench_leads) AS calls
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO leads_delivery (lead_id, campaign_id, rank, price, status, attempts,
                max_attempts, last_outcome, buyer_reference, reason, created_at, updated_at)
            SELECT id, c1, 1, 20.00, 'accepted', 1, 5, 'accepted', '', '', at, at
            FROM bench_leads WHERE sold
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO leads_ledgerentry (kind, lead_id, buyer_id, campaign_id, publisher_id,
                charge, payout, margin, reason, created_at, remnant)
            SELECT 'sale', id, b1, c1, publisher_id, 20.00, 16.00, 4.00, '', at, false
            FROM bench_leads WHERE sold
            """,
            params,
        )


def month_bounds(month: str) -> tuple[date, date]:
    first = datetime.strptime(month, "%Y-%m").date()
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)
