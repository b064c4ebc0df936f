"""One person posted many times at once sells exactly once: the others answer
``duplicate`` and no buyer hears of them. Through the public API with real threads, on
SQLite (a production web server on a database file of its own) and on PostgreSQL (the
test database, every thread on its own connection)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection, connections
from werkzeug import Request, Response

from bench.exchange import _manage, exchange_env, server_command
from bench.procs import Processes, free_port, wait_http
from exchange.config_cache import get_config
from tests.factories import PING_LEAD, POST_LEAD, make_campaign, make_publisher, make_vertical

COPIES = 15
SETUP = """
import json
from decimal import Decimal as D
from tests.factories import make_campaign, make_publisher, make_vertical
vertical = make_vertical()
_, key = make_publisher(floor=D("1.00"))
for slug, price in (("first", "20.00"), ("second", "10.00")):
    url = "{url}/" + slug
    make_campaign(vertical, slug, post_url=url, pricing_model="fixed", fixed_price=price)
print(json.dumps({{"key": key}}))
"""


def slow_accept(request: Request) -> Response:
    time.sleep(0.05)  # a buyer that takes its time widens the window for a race
    return Response(json.dumps({"status": "ok", "lead_id": "B-1"}), content_type="application/json")


def at_once(calls: Sequence[Callable[[], Any]], *, close_connections: bool = False) -> list[Any]:
    """Run every call on its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        try:
            barrier.wait()
            return call()
        finally:
            if close_connections:
                connections.close_all()  # this thread's connection, before the test DB goes

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def outcome(answer: dict[str, Any]) -> str:
    assert "status" in answer, answer
    return answer["status"] if answer["status"] == "sold" else ",".join(answer.get("reasons", []))


def assert_sold_once(answers: list[dict[str, Any]], buyer_server: Any) -> None:
    outcomes = sorted(outcome(a) for a in answers)
    assert outcomes == ["duplicate"] * (COPIES - 1) + ["sold"], outcomes
    posts = [r.path for r, _ in buyer_server.log]
    assert posts == ["/first"], posts  # one post, to the best bidder; nobody else heard


# --- SQLite: a production web server on a database file ------------------------------------


class Exchange:
    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def call(self, path: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        answer = requests.post(
            f"{self.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.key}", **headers},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def sqlite_exchange(
    tmp_path: Path, buyer_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Exchange]:
    for name in ("DATABASE_URL", "PII_KEYS", "PII_HASH_KEY", "CELERY_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)  # a fresh SQLite file of its own
    env = exchange_env(tmp_path)
    env["OUTBOUND_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    env["DJANGO_SETTINGS_MODULE"] = "exchange.settings"
    _manage(["manage.py", "migrate", "--noinput"], env, "migrate")
    script = SETUP.format(url=buyer_server.url_for("").rstrip("/"))
    output = _manage(["manage.py", "shell", "-c", script], env, "setup")
    key = json.loads(output.strip().splitlines()[-1])["key"]
    port = free_port()
    procs = Processes(tmp_path)
    child = procs.start("exchange", server_command("gunicorn", port, workers=2, threads=8), env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health", child, timeout_s=60)
        yield Exchange(f"http://127.0.0.1:{port}", key)
    finally:
        procs.stop_all()


def test_sqlite_fifteen_concurrent_direct_posts_of_one_person_sell_once(
    sqlite_exchange: Exchange, buyer_server: Any
) -> None:
    buyer_server.expect_request("/first").respond_with_handler(slow_accept)
    body = {"vertical": "auto-insurance", "lead": POST_LEAD}

    answers = at_once(
        [
            lambda n=n: sqlite_exchange.call("/api/v1/leads", body, **{"Idempotency-Key": f"k{n}"})
            for n in range(COPIES)
        ]
    )

    assert_sold_once(answers, buyer_server)


def test_sqlite_fifteen_pings_then_fifteen_concurrent_posts_of_one_person_sell_once(
    sqlite_exchange: Exchange, buyer_server: Any
) -> None:
    buyer_server.expect_request("/first").respond_with_handler(slow_accept)
    ping = {"vertical": "auto-insurance", "lead": PING_LEAD}
    ping_ids = [sqlite_exchange.call("/api/v1/ping", ping)["ping_id"] for _ in range(COPIES)]

    answers = at_once(
        [
            lambda p=p: sqlite_exchange.call("/api/v1/post", {"ping_id": p, "lead": POST_LEAD})
            for p in ping_ids
        ]
    )

    assert_sold_once(answers, buyer_server)


# --- PostgreSQL: the test database, a connection per thread --------------------------------


@pytest.fixture
def pg_market(buyer_server: Any) -> dict[str, Any]:
    buyer_server.expect_request("/first").respond_with_handler(slow_accept)
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    for slug, price in (("first", "20.00"), ("second", "10.00")):
        make_campaign(
            vertical, slug, post_url=buyer_server.url_for(f"/{slug}"),
            pricing_model="fixed", fixed_price=price,
        )  # fmt: skip
    # Built once before the race: while one thread rebuilds the process's configuration
    # the others read the one before it, which in this test database is a former test's.
    get_config()
    return {"key": key}


def _client_call(key: str, path: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    from rest_framework.test import APIClient

    answer = APIClient().post(
        path, body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}", **headers
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_postgresql_fifteen_concurrent_direct_posts_of_one_person_sell_once(
    pg_market: dict, buyer_server: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("set DATABASE_URL to PostgreSQL to run the PostgreSQL duplicate races")
    body = {"vertical": "auto-insurance", "lead": POST_LEAD}

    answers = at_once(
        [
            lambda n=n: _client_call(
                pg_market["key"], "/api/v1/leads", body, HTTP_IDEMPOTENCY_KEY=f"k{n}"
            )
            for n in range(COPIES)
        ],
        close_connections=True,
    )

    assert_sold_once(answers, buyer_server)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_postgresql_fifteen_pings_then_fifteen_concurrent_posts_of_one_person_sell_once(
    pg_market: dict, buyer_server: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("set DATABASE_URL to PostgreSQL to run the PostgreSQL duplicate races")
    ping = {"vertical": "auto-insurance", "lead": PING_LEAD}
    ping_ids = [
        _client_call(pg_market["key"], "/api/v1/ping", ping)["ping_id"] for _ in range(COPIES)
    ]

    answers = at_once(
        [
            lambda p=p: _client_call(
                pg_market["key"], "/api/v1/post", {"ping_id": p, "lead": POST_LEAD}
            )
            for p in ping_ids
        ],
        close_connections=True,
    )

    assert_sold_once(answers, buyer_server)
