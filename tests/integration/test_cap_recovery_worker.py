"""A real Celery worker SIGKILLed mid-delivery: after recovery, cap counters equal sales."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from django.db.models import Count, Sum
from werkzeug import Request, Response

from buyers.models import CapCounter
from leads.models import Delivery, Lead
from tests.factories import POST_LEAD, make_campaign, make_publisher, make_vertical
from tests.integration.conftest import Worker, needs_integration, wait_for

pytestmark = [*needs_integration(), pytest.mark.django_db(transaction=True)]
PEOPLE = itertools.count()
IN_FLIGHT = 3


def a_lead() -> dict[str, str]:
    n = next(PEOPLE)
    return {**POST_LEAD, "phone": f"(214) 555-{300 + n:04d}", "email": f"k{n}@x.test"}


def test_a_worker_killed_with_deliveries_in_flight_leaves_counters_equal_to_sales(
    api: Any, buyer_server: Any, celery_worker: Callable[..., Worker]
) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    posts: list[Request] = []
    lock, all_in, killed = threading.Lock(), threading.Event(), threading.Event()

    def post(request: Request) -> Response:
        with lock:
            posts.append(request)
            first_round = len(posts) <= IN_FLIGHT
            if len(posts) == IN_FLIGHT:
                all_in.set()
        if first_round:
            killed.wait(30)  # the worker dies while these calls are in flight
        return Response(json.dumps({"status": "ok"}), content_type="application/json")

    buyer_server.expect_request("/post").respond_with_handler(post)
    make_campaign(
        vertical,
        "capped",
        post_url=buyer_server.url_for("/post"),
        post_timeout_ms=2000,
        pricing_model="fixed",
        fixed_price="20.00",
        caps=[{"period": "day", "max_leads": 40}, {"period": "month", "max_spend": D("800.00")}],
    )
    worker = celery_worker(concurrency=IN_FLIGHT)

    lead_ids = []
    for _ in range(IN_FLIGHT):
        body = {"vertical": "auto-insurance", "lead": a_lead(), "mode": "async"}
        answer = api.post("/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")
        lead_ids.append(answer.json()["lead_id"])
    assert all_in.wait(30), worker.log()
    worker.kill()
    killed.set()
    assert Delivery.objects.filter(status="sending").count() == IN_FLIGHT
    # What the dead worker took from the caps, with nothing sold.
    assert {(c.leads, c.spend) for c in CapCounter.objects.all()} == {(3, D("60.0000"))}

    restarted = celery_worker()
    wait_for(
        lambda: Lead.objects.filter(pk__in=lead_ids, status="sold").count() == IN_FLIGHT,
        60,
        "the leads to be sold after the restart",
        restarted,
    )

    sold = Lead.objects.filter(status="sold").aggregate(n=Count("pk"), spend=Sum("price"))
    assert (sold["n"], sold["spend"]) == (3, D("60.0000"))
    assert {(c.leads, c.spend) for c in CapCounter.objects.all()} == {(3, D("60.0000"))}
    assert not Delivery.objects.filter(reservation__isnull=False).exists()
