"""Scaled out as docs/operations.md says: two web processes (granian, the README's
production server) and two Celery workers on one PostgreSQL, one Redis and one RabbitMQ,
traffic split across both web processes at once. Caps, rate limits, circuit breakers
and the duplicate check hold across processes as they do within one."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.core.cache import cache
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from buyers.choices import CircuitStatus
from buyers.models import CapCounter, CircuitState
from leads.models import Lead
from tests.factories import PING_LEAD, POST_LEAD, make_campaign, make_publisher, make_vertical
from tests.integration.conftest import Worker, free_port, needs_integration, wait_for

pytestmark = [*needs_integration(), pytest.mark.django_db(transaction=True)]

CAP = 5
LEADS = 16  # half posted sync (sold by the web processes), half async (by the workers)
RATE = 6  # requests an hour for the rate-limited publisher
COPIES = 10  # one person posted this many times at once
# Production's background refresher and batched call logs on in every process; a circuit
# opened during the test stays open for its whole length.
PROCESS_ENV = {"SWITCHYARD_PRODUCTION_LIKE": "1", "CIRCUIT_COOL_DOWN_SECONDS": "600"}


class Buyers:
    """The buyers' side on a port of its own: ``capped`` and ``spare`` buy at a fixed
    price, ``broken`` answers every ping with HTTP 500. Counts the calls each gets."""

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        for path in ("/capped/post", "/spare/post", "/broken/ping", "/broken/post"):
            self.server.expect_request(path).respond_with_handler(self.answer)
        self.server.start()

    def answer(self, request: Request) -> Response:
        with self.lock:
            self.calls[request.path] = self.calls.get(request.path, 0) + 1
        if request.path.startswith("/broken/"):
            return Response("down", status=500)
        time.sleep(0.05)  # a buyer that takes its time widens the window for a race
        body = json.dumps({"status": "ok", "lead_id": "B-1"})
        return Response(body, content_type="application/json")

    def count(self, path: str) -> int:
        with self.lock:
            return self.calls.get(path, 0)


@pytest.fixture
def buyers() -> Iterator[Buyers]:
    fleet = Buyers()
    yield fleet
    fleet.server.clear()
    fleet.server.stop()


@pytest.fixture
def market(buyers: Buyers) -> dict[str, Any]:
    cache.clear()  # key ids restart with each test database; stale counts must not
    url = buyers.server.url_for
    auto = make_vertical()
    make_campaign(
        auto,
        "capped",
        post_url=url("/capped/post"),
        pricing_model="fixed",
        fixed_price="20.00",
        caps=[{"period": "day", "max_leads": CAP}],
    )
    make_campaign(
        auto, "spare", post_url=url("/spare/post"), pricing_model="fixed", fixed_price="10.00"
    )
    home = make_vertical("home-insurance")
    broken = make_campaign(
        home, "broken", ping_url=url("/broken/ping"), post_url=url("/broken/post"), timeout_ms=2000
    )
    _, key = make_publisher()
    _, limited = make_publisher("limited", rate_limit=f"{RATE}/hour")
    return {"key": key, "limited": limited, "broken_ping": broken.endpoints.get(kind="ping")}


@pytest.fixture
def cluster(
    market: dict[str, Any],
    web_processes: Callable[..., list[str]],
    celery_worker: Callable[..., Worker],
) -> list[str]:
    """Two web processes and two workers, started once the configuration is in place."""
    web = web_processes(2, server="granian", env=PROCESS_ENV)
    celery_worker(concurrency=2)
    celery_worker(concurrency=2)
    return web


def at_once(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run every call on its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def call(method: str, url: str, key: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.request(
        method, url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def person(n: int) -> dict[str, str]:
    return {**POST_LEAD, "phone": f"(214) 555-{2000 + n:04d}", "email": f"p{n}@example.com"}


def direct_post(web: str, key: str, lead: dict[str, str], mode: str) -> dict[str, Any]:
    body = {"vertical": "auto-insurance", "lead": lead, "mode": mode}
    answer = call("POST", f"{web}/api/v1/leads", key, body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def ping_home(web: str, key: str) -> None:
    body = {"vertical": "home-insurance", "lead": PING_LEAD}
    answer = call("POST", f"{web}/api/v1/ping", key, body)
    assert answer.status_code == 200, answer.text


def test_two_web_processes_and_two_workers_share_caps_rate_limits_circuits_and_duplicates(
    cluster: list[str], market: dict[str, Any], buyers: Buyers
) -> None:
    first, second = cluster
    key = market["key"]

    # Circuits: failures seen by the first process open the circuit; the second process
    # then stops calling the buyer too.
    failures = 5  # CIRCUIT_FAILURES
    for _ in range(failures):
        ping_home(first, key)
    endpoint = market["broken_ping"]
    wait_for(
        lambda: CircuitState.objects.filter(endpoint=endpoint, status=CircuitStatus.OPEN).exists(),
        30,
        "the first process's failures to open the circuit",
    )

    def second_skips_the_open_circuit() -> bool:
        before = buyers.count("/broken/ping")
        ping_home(second, key)
        return buyers.count("/broken/ping") == before

    wait_for(second_skips_the_open_circuit, 30, "the second process to see the circuit open")
    calls_when_open = buyers.count("/broken/ping")
    for web in (first, second, first, second):
        ping_home(web, key)
    assert buyers.count("/broken/ping") == calls_when_open

    # Rate limit: one count in Redis for requests landing on either process at once.
    some_lead = "/api/v1/leads/00000000-0000-4000-8000-000000000000"
    statuses = at_once(
        [
            lambda web=web: call("GET", web + some_lead, market["limited"]).status_code
            for web in (first, second) * RATE
        ]
    )
    assert sorted(statuses) == [404] * RATE + [429] * RATE  # let through: no such lead

    # Caps: sixteen people at once, sync ones sold by either web process, async ones by
    # either worker; the capped buyer gets exactly its five, the rest go to the spare.
    plan = [
        (web, key, person(n), mode)
        for n, (web, mode) in enumerate(
            [(web, mode) for mode in ("sync", "async") for web in (first, second)] * (LEADS // 4)
        )
    ]
    answers = at_once([lambda p=p: direct_post(*p) for p in plan])
    ids = [a["lead_id"] for a in answers]
    assert {a["status"] for a in answers} <= {"sold", "pending"}
    wait_for(
        lambda: Lead.objects.filter(pk__in=ids, status="sold").count() == LEADS,
        60,
        "the workers to sell the async leads",
    )
    sold_to = [lead.sold_campaign.slug for lead in Lead.objects.filter(pk__in=ids)]
    assert sold_to.count("capped") == CAP and sold_to.count("spare") == LEADS - CAP
    assert buyers.count("/capped/post") == CAP
    assert CapCounter.objects.get().leads == CAP

    # Duplicates: one person posted ten times at once across both processes sells once.
    same = person(999)
    answers = at_once(
        [
            lambda web=web: direct_post(web, key, same, "sync")
            for web in (first, second) * (COPIES // 2)
        ]
    )
    outcomes = sorted(
        a["status"] if a["status"] == "sold" else ",".join(a["reasons"]) for a in answers
    )
    assert outcomes == ["duplicate"] * (COPIES - 1) + ["sold"]
    assert buyers.count("/spare/post") == LEADS - CAP + 1
