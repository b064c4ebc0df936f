"""Deliveries with a real Celery worker on the real broker and PostgreSQL (SPEC §6).

No lead lost, none sold twice: through retries, a worker killed mid-delivery, a
broker that was down when the post arrived, duplicate tasks and a buyer outage.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, Sum
from werkzeug import Request, Response

from buyers.choices import CircuitStatus
from buyers.models import Campaign, CapCounter, CircuitState
from leads.models import Delivery, Lead, LedgerEntry, TransactionLog
from leads.tasks import deliver_lead
from tests.factories import POST_LEAD, make_campaign, make_publisher, make_vertical
from tests.integration.conftest import BASE_DIR, Worker, needs_integration, wait_for

pytestmark = [*needs_integration(), pytest.mark.django_db(transaction=True)]

OK = {"status": "ok", "lead_id": "B-1"}
PEOPLE = itertools.count()


def a_lead() -> dict[str, str]:
    """A different person each time, so the duplicate check never refuses one."""
    number = next(PEOPLE)
    return {**POST_LEAD, "phone": f"(214) 555-{100 + number:04d}", "email": f"p{number}@x.test"}


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")


class Buyer:
    """A buyer's ping and post endpoints on the local server; tests steer its answers."""

    def __init__(self, server: Any, name: str, price: str) -> None:
        self.name, self.price = name, price
        self.pings: list[Request] = []
        self.posts: list[Request] = []
        self.post_answers: list[int] = [200]  # statuses in turn, the last one repeating
        self.down = False
        self.ping_delay = 0.0
        self.lock = threading.Lock()
        server.expect_request(f"/{name}/ping").respond_with_handler(self.ping)
        server.expect_request(f"/{name}/post").respond_with_handler(self.post)

    def ping(self, request: Request) -> Response:
        with self.lock:
            self.pings.append(request)
        time.sleep(self.ping_delay)
        if self.down:
            return Response("down", 503)
        return json_response({"result": "accepted", "bid": self.price, "bid_id": self.name})

    def post(self, request: Request) -> Response:
        with self.lock:
            self.posts.append(request)
            status = self.post_answers[min(len(self.posts), len(self.post_answers)) - 1]
        if self.down:
            return Response("down", 503)
        return json_response(OK if status == 200 else {}, status)


def campaign_for(
    vertical: Any, server: Any, buyer: Buyer, timeout_ms: int = 1000, **fields: Any
) -> Campaign:
    return make_campaign(
        vertical,
        buyer.name,
        ping_url=server.url_for(f"/{buyer.name}/ping"),
        post_url=server.url_for(f"/{buyer.name}/post"),
        timeout_ms=timeout_ms,
        **fields,
    )


def direct_post(api: Any, key: str, mode: str, lead: dict | None = None) -> dict[str, Any]:
    body = {"vertical": "auto-insurance", "lead": lead or a_lead(), "mode": mode}
    answer = api.post("/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 200, answer.content
    return answer.json()


def status_of(lead_id: str) -> str:
    return Lead.objects.values_list("status", flat=True).get(pk=lead_id)


def sold(lead_id: str) -> Callable[[], bool]:
    return lambda: status_of(lead_id) == "sold"


def test_a_buyer_failing_twice_with_503_is_sold_after_the_retries(
    api: Any, buyer_server: Any, celery_worker: Callable[..., Worker]
) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    buyer = Buyer(buyer_server, "flaky", "20.00")
    buyer.post_answers = [503, 503, 200]
    campaign_for(vertical, buyer_server, buyer, retry_backoff=[1, 1])
    worker = celery_worker()

    lead_id = direct_post(api, key, "async")["lead_id"]

    wait_for(sold(lead_id), 30, "the lead to be sold", worker)
    attempts = TransactionLog.objects.filter(lead_id=lead_id, kind="post").order_by("attempt")
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 503), (2, 503), (3, 200)]
    assert len(buyer.posts) == 3
    assert LedgerEntry.objects.filter(lead_id=lead_id, kind="sale").count() == 1
    detail = api.get(f"/api/v1/leads/{lead_id}", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert (detail["status"], detail["price"]) == ("sold", "16.00")


def test_a_worker_killed_mid_delivery_delivers_the_lead_exactly_once_after_a_restart(
    api: Any, buyer_server: Any, celery_worker: Callable[..., Worker]
) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    arrived, killed = threading.Event(), threading.Event()
    posts: list[Request] = []

    def post(request: Request) -> Response:
        posts.append(request)
        if len(posts) == 1:
            arrived.set()
            killed.wait(30)  # the worker dies while this call is in flight
        return json_response(OK)

    buyer_server.expect_request("/b/ping").respond_with_json(
        {"result": "accepted", "bid": "20.00", "bid_id": "b"}
    )
    buyer_server.expect_request("/b/post").respond_with_handler(post)
    make_campaign(
        vertical,
        "b",
        ping_url=buyer_server.url_for("/b/ping"),
        post_url=buyer_server.url_for("/b/post"),
        post_timeout_ms=2000,
    )
    worker = celery_worker()

    lead_id = direct_post(api, key, "async")["lead_id"]
    assert arrived.wait(20), worker.log()
    worker.kill()
    killed.set()
    assert status_of(lead_id) == "pending"
    assert Delivery.objects.get(lead_id=lead_id).status == "sending"

    restarted = celery_worker()
    wait_for(sold(lead_id), 60, "the lead to be sold after the restart", restarted)

    delivery = Delivery.objects.get(lead_id=lead_id)
    assert (delivery.status, delivery.attempts) == ("accepted", 2)
    assert LedgerEntry.objects.filter(lead_id=lead_id, kind="sale").count() == 1
    assert len(posts) == 2  # the lost call and its retry, which the buyer can dedupe:
    assert {r.headers["Idempotency-Key"] for r in posts} == {delivery.idempotency_key}


def test_a_post_while_the_broker_is_down_is_kept_and_delivered_when_it_is_back(
    buyer_server: Any, celery_worker: Callable[..., Worker], worker_env: dict[str, str]
) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    buyer = Buyer(buyer_server, "b", "20.00")
    campaign_for(vertical, buyer_server, buyer)
    # The web side: another process whose broker URL points at a closed port.
    web = f"""
import json
from django.test import Client
body = {{"vertical": "auto-insurance", "lead": {a_lead()!r}, "mode": "async"}}
answer = Client().post("/api/v1/leads", json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION="Bearer {key}")
print("ANSWER", answer.status_code, answer.content.decode())
"""
    env = {**worker_env, "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:9//"}
    run = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", web],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(x for x in run.stdout.splitlines() if x.startswith("ANSWER"))
    _, status, body = line.split(" ", 2)
    answer = json.loads(body)

    assert (status, answer["status"]) == ("200", "pending")
    assert "could not enqueue" in run.stderr
    assert status_of(answer["lead_id"]) == "pending"

    worker = celery_worker()  # the broker is back; nothing was queued: beat's sweeper finds it
    wait_for(sold(answer["lead_id"]), 40, "the sweeper to deliver the lead", worker)
    assert len(buyer.posts) == 1


def test_twenty_duplicate_tasks_for_one_lead_make_one_post(
    api: Any, buyer_server: Any, celery_worker: Callable[..., Worker]
) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    buyer = Buyer(buyer_server, "b", "20.00")
    campaign_for(vertical, buyer_server, buyer)
    lead_id = direct_post(api, key, "async")["lead_id"]
    for _ in range(20):
        deliver_lead.delay(lead_id)

    worker = celery_worker(concurrency=4)  # 21 tasks in the queue, four at a time
    wait_for(sold(lead_id), 30, "the lead to be sold", worker)
    time.sleep(2)  # let the remaining duplicates run

    assert len(buyer.posts) == 1
    assert LedgerEntry.objects.filter(lead_id=lead_id, kind="sale").count() == 1


def test_a_buyer_outage_opens_its_circuit_and_one_probe_closes_it(
    api: Any, buyer_server: Any, settings: Any
) -> None:
    from buyers.circuits import limit

    settings.SWITCHYARD = {**settings.SWITCHYARD, "CIRCUIT_COOL_DOWN_SECONDS": 3}
    vertical = make_vertical()
    _, key = make_publisher()
    down, other = Buyer(buyer_server, "down", "20.00"), Buyer(buyer_server, "other", "10.00")
    campaign_for(vertical, buyer_server, down, timeout_ms=3000, max_attempts=1)
    campaign_for(vertical, buyer_server, other)
    ping_circuit = CircuitState.objects.filter(
        endpoint__campaign__slug="down", endpoint__kind="ping"
    )

    # It bid, then went down before the post: the waterfall sells to the next bidder.
    lead = a_lead()
    ping_id = api.post(
        "/api/v1/ping",
        {
            "vertical": "auto-insurance",
            "lead": {k: lead[k] for k in ("zip", "state", "credit_tier")},
        },
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()["ping_id"]
    down.down = True
    answer = api.post(
        "/api/v1/post",
        {"ping_id": ping_id, "lead": lead},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()
    assert (answer["status"], Lead.objects.get(pk=ping_id).sold_campaign.slug) == ("sold", "other")

    # Its pings fail until the circuit opens; then it is not pinged at all.
    for _ in range(limit("CIRCUIT_FAILURES")):
        assert direct_post(api, key, "sync")["status"] == "sold"
    assert ping_circuit.get().status == CircuitStatus.OPEN
    pinged = len(down.pings)
    for _ in range(3):
        assert direct_post(api, key, "sync")["price"] == "8.00"  # sold to the other buyer
    assert len(down.pings) == pinged

    # It recovers; after the cool-down, of many concurrent leads exactly one probes it.
    down.down, down.ping_delay = False, 1.0  # the probe is still in flight for the others
    time.sleep(3.2)
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(8)

    def post_one() -> None:
        from rest_framework.test import APIClient

        try:
            start.wait(10)
            answers.append(direct_post(APIClient(), key, "sync"))
        finally:
            connection.close()

    threads = [threading.Thread(target=post_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert [a["status"] for a in answers] == ["sold"] * 8
    assert len(down.pings) == pinged + 1
    assert ping_circuit.get().status == CircuitStatus.CLOSED
    down.ping_delay = 0
    assert direct_post(api, key, "sync")["price"] == "16.00"  # back to the best bidder


# --- cap reservations through a crash (in this module: one worker per broker at a time) --

CAP_IN_FLIGHT = 3


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
            first_round = len(posts) <= CAP_IN_FLIGHT
            if len(posts) == CAP_IN_FLIGHT:
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
    worker = celery_worker(concurrency=CAP_IN_FLIGHT)

    lead_ids = []
    for _ in range(CAP_IN_FLIGHT):
        body = {"vertical": "auto-insurance", "lead": a_lead(), "mode": "async"}
        answer = api.post("/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")
        lead_ids.append(answer.json()["lead_id"])
    assert all_in.wait(30), worker.log()
    worker.kill()
    killed.set()
    assert Delivery.objects.filter(status="sending").count() == CAP_IN_FLIGHT
    # What the dead worker took from the caps, with nothing sold.
    assert {(c.leads, c.spend) for c in CapCounter.objects.all()} == {(3, D("60.0000"))}

    restarted = celery_worker()
    wait_for(
        lambda: Lead.objects.filter(pk__in=lead_ids, status="sold").count() == CAP_IN_FLIGHT,
        60,
        "the leads to be sold after the restart",
        restarted,
    )

    sold = Lead.objects.filter(status="sold").aggregate(n=Count("pk"), spend=Sum("price"))
    assert (sold["n"], sold["spend"]) == (3, D("60.0000"))
    assert {(c.leads, c.spend) for c in CapCounter.objects.all()} == {(3, D("60.0000"))}
    assert not Delivery.objects.filter(reservation__isnull=False).exists()
