"""Caps under real concurrency: 50 threads, each on its own PostgreSQL connection, try to
sell at the same instant; no cap is ever passed and no sale is refused for nothing."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection, connections

from buyers.caps import CapSpec, Reservation, reserve
from buyers.models import Buyer, Cap, CapCounter
from tests.factories import make_campaign, make_vertical

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="cap concurrency needs PostgreSQL's row locks (set DATABASE_URL to PostgreSQL)",
    ),
]

THREADS = 50
NOW = datetime(2025, 6, 11, 15, 0, tzinfo=UTC)


def at_once(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run every call on its own thread and connection, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        try:
            barrier.wait()
            return call()
        finally:
            connections.close_all()  # this thread's connection, before the test DB goes

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def spec(cap: Cap) -> CapSpec:
    return CapSpec.from_cap(cap, "America/Chicago")


@pytest.fixture
def buyer() -> Buyer:
    return Buyer.objects.create(slug="summit", name="Summit", timezone="America/Chicago")


def test_fifty_concurrent_sales_to_a_campaign_capped_at_five_a_day_sell_exactly_five(
    buyer: Buyer,
) -> None:
    campaign = make_campaign(make_vertical(), "summit-tx", buyer=buyer)
    cap = spec(Cap.objects.create(campaign=campaign, period="day", max_leads=5))

    results = at_once([lambda: reserve([cap], D("25.00"), NOW)] * THREADS)

    assert sum(isinstance(r, Reservation) for r in results) == 5
    assert CapCounter.objects.get(cap_id=cap.cap_id).leads == 5


def test_concurrent_sales_at_random_prices_stop_at_the_spend_cap(buyer: Buyer) -> None:
    cap = spec(Cap.objects.create(buyer=buyer, period="day", max_spend=D("250.00")))
    draw = random.Random(5)
    prices = [D(draw.randint(500, 4000)) / 100 for _ in range(THREADS)]

    results = at_once([lambda p=p: reserve([cap], p, NOW) for p in prices])

    taken = [p for p, r in zip(prices, results, strict=True) if r is not None]
    refused = [p for p, r in zip(prices, results, strict=True) if r is None]
    spent = CapCounter.objects.get(cap_id=cap.cap_id).spend
    assert spent == sum(taken) <= D("250.00")
    # Spend only grows here, so every refused price would still not fit at the end.
    assert all(spent + p > D("250.00") for p in refused)


def test_sales_sharing_caps_in_any_order_never_deadlock_or_pass_a_cap(buyer: Buyer) -> None:
    vertical = make_vertical()
    first = spec(Cap.objects.create(buyer=buyer, period="day", max_leads=8))
    second = spec(
        Cap.objects.create(
            campaign=make_campaign(vertical, "summit-tx", buyer=buyer), period="week", max_leads=30
        )
    )
    orders = [[first, second], [second, first]] * (THREADS // 2)

    results = at_once([lambda caps=caps: reserve(caps, D("1.00"), NOW) for caps in orders])

    assert sum(r is not None for r in results) == 8
    assert CapCounter.objects.get(cap_id=first.cap_id).leads == 8
    assert CapCounter.objects.get(cap_id=second.cap_id).leads == 8
