"""Two real web processes (gunicorn) on the shared Redis cache count one rate limit."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from tests.factories import make_publisher
from tests.integration.conftest import BASE_DIR, needs_integration

pytestmark = [*needs_integration(), pytest.mark.django_db(transaction=True)]

LIMIT = 6
SOME_LEAD = "/api/v1/leads/00000000-0000-4000-8000-000000000000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def web_processes(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], list[str]]]:
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("needs CACHE_URL on Redis (rediscache://...)")
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> list[str]:
        urls = []
        for n in range(2):
            port = free_port()
            log = (tmp_path / f"web-{n}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "--workers",
                        "1",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "exchange.wsgi:application",
                    ],
                    cwd=BASE_DIR,
                    env=worker_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/v1/health", timeout=2).close()
                    break
                except urllib.error.HTTPError:
                    break  # answering (503 for a missing broker is still an answer)
                except OSError:
                    if time.monotonic() > deadline:
                        logs = [p.read_text() for p in tmp_path.glob("web-*.log")]
                        raise AssertionError(f"a web process did not start: {logs}") from None
                    time.sleep(0.2)
        return urls

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(20)
    # PostgreSQL notices a closed client a moment later: let its backends go before the
    # test database is dropped.
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            if not cursor.fetchone()[0]:
                break
            time.sleep(0.1)


def status(url: str, key: str) -> int:
    request = urllib.request.Request(url + SOME_LEAD, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_two_web_processes_on_redis_share_one_rate_limit(
    web_processes: Callable[[], list[str]],
) -> None:
    cache.clear()  # key ids restart with each test database; stale counts must not
    _, key = make_publisher(rate_limit=f"{LIMIT}/hour")
    if time.time() % 3600 > 3590:
        time.sleep(11)  # not across the hour's window boundary
    first, second = web_processes()

    answers = [status(url, key) for _ in range(LIMIT) for url in (first, second)]

    assert answers.count(404) == LIMIT  # let through: no such lead
    assert answers.count(429) == LIMIT
    assert answers[-1] == 429 and status(first, key) == 429
