"""An outbound throttle is shared by every web process (Redis): two real gunicorn
processes together ping a campaign throttled at 5 pings per second at most 5 times in
any second, however many pings they receive."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from werkzeug import Request, Response

from leads.models import Lead
from tests.factories import PING_LEAD, make_campaign, make_publisher, make_vertical
from tests.integration.conftest import BASE_DIR, needs_integration

pytestmark = [*needs_integration(), pytest.mark.django_db(transaction=True)]

PORTS = range(18800, 18900)  # this suite's range for the servers it starts
PINGS = 30


def port_in_range(taken: set[int]) -> int:
    for port in PORTS:
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError("no free port in 18800-18899")


@pytest.fixture
def ports() -> set[int]:
    return set()


@pytest.fixture
def fake_buyer(ports: set[int]) -> Iterator[Any]:
    """A bidding buyer that notes when each ping arrives."""
    from pytest_httpserver import HTTPServer

    arrivals: list[float] = []
    lock = threading.Lock()

    def bid(request: Request) -> Response:
        with lock:
            arrivals.append(time.monotonic())
        body = {"result": "accepted", "bid": "9.00", "bid_id": "t"}
        return Response(json.dumps(body), content_type="application/json")

    server = HTTPServer(host="127.0.0.1", port=port_in_range(ports), threaded=True)
    server.expect_request("/ping").respond_with_handler(bid)
    server.start()
    server.arrivals = arrivals  # type: ignore[attr-defined]
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def two_web_processes(
    worker_env: dict[str, str], tmp_path: Path, ports: set[int]
) -> Iterator[list[str]]:
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("needs CACHE_URL on Redis (rediscache://...)")
    env = {**worker_env, "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8"}
    env["DJANGO_SETTINGS_MODULE"] = os.environ.get("DJANGO_SETTINGS_MODULE", "tests.settings")
    procs, urls = [], []
    for n in range(2):
        port = port_in_range(ports)
        log = (tmp_path / f"web-{n}.log").open("wb")
        command = [sys.executable, "-m", "gunicorn", "-k", "gthread", "--workers", "1"]
        command += ["--threads", "8", "--bind", f"127.0.0.1:{port}", "exchange.wsgi:application"]
        procs.append(
            subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
        )
        urls.append(f"http://127.0.0.1:{port}")
    for url in urls:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v1/health", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # answering
            except OSError:
                if time.monotonic() > deadline:
                    logs = [p.read_text() for p in tmp_path.glob("web-*.log")]
                    raise AssertionError(f"a web process did not start: {logs}") from None
                time.sleep(0.2)
    yield urls
    for proc in procs:
        proc.terminate()
        proc.wait(20)
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:  # let the servers' backends go before the drop
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            if not cursor.fetchone()[0]:
                break
            time.sleep(0.1)


def send_ping(url: str, key: str) -> dict[str, Any]:
    body = json.dumps({"vertical": "auto-insurance", "lead": PING_LEAD}).encode()
    request = urllib.request.Request(
        f"{url}/api/v1/ping",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def most_in_any_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_two_web_processes_ping_a_throttled_campaign_at_most_5_times_a_second(
    fake_buyer: Any, two_web_processes: list[str]
) -> None:
    cache.clear()  # campaign ids restart with each test database: no stale slots
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    campaign = make_campaign(
        vertical,
        "limited",
        ping_url=fake_buyer.url_for("/ping"),
        post_url=fake_buyer.url_for("/post"),
        throttle={"pings": 5, "per": "1s"},
    )
    first, second = two_web_processes
    send_ping(first, key), send_ping(second, key)  # warm both processes up
    time.sleep(1.1)  # the warm-up's slots expire
    fake_buyer.arrivals.clear()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=10) as pool:
        urls = [first, second] * (PINGS // 2)
        answers = list(pool.map(lambda url: send_ping(url, key), urls))
    elapsed = time.monotonic() - started

    received = len(fake_buyer.arrivals)
    accepted = [a for a in answers if a["status"] == "accepted"]
    throttled = Lead.objects.filter(
        pk__in=[a["ping_id"] for a in answers if a["status"] == "rejected"]
    )
    print(f"{PINGS} pings in {elapsed:.2f} s; the buyer received {received}")
    assert received == len(accepted) >= 5
    # Slots expire a second after they were taken; arrivals jitter by a few ms.
    assert most_in_any_window(fake_buyer.arrivals, 0.9) <= 5
    if elapsed < 0.9:
        assert received == 5
    assert throttled.count() == PINGS - received
    for lead in throttled:
        assert lead.trace[0]["reason"] == "throttled"
        assert lead.trace[0]["campaign_id"] == campaign.pk
