"""Real Celery workers for the integration tests, on the real broker and PostgreSQL.

These tests run only with ``SWITCHYARD_INTEGRATION=1`` (``.ci/run`` sets it, with the CI
machine's PostgreSQL, Redis and RabbitMQ in ``DATABASE_URL``, ``CACHE_URL`` and
``CELERY_BROKER_URL``). A worker is a ``celery -A exchange worker`` subprocess with
embedded beat (so the sweeper runs), pointed at the very test database pytest-django
created for this session.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 40
# Each worker of this test process gets a node name of its own: two workers of one name
# clash on RabbitMQ's exclusive pidbox queue.
_NAMES = itertools.count(1)


def integration_enabled() -> bool:
    return os.environ.get("SWITCHYARD_INTEGRATION") == "1"


def needs_integration() -> list[Any]:
    """Marks for a module of integration tests: skipped, with the reason, unless enabled."""
    reason = (
        "integration tests need SWITCHYARD_INTEGRATION=1 with PostgreSQL in DATABASE_URL and a "
        "real broker in CELERY_BROKER_URL (see .ci/run)"
    )
    return [pytest.mark.integration, pytest.mark.skipif(not integration_enabled(), reason=reason)]


def database_url() -> str:
    """A DATABASE_URL for the test database this session uses (test_<name>[_gwN])."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("the integration tests need PostgreSQL in DATABASE_URL")
    user = urllib.parse.quote(db.get("USER") or "")
    password = urllib.parse.quote(db.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{db['NAME']}"


class Worker:
    """One ``celery -A exchange worker -B`` process group, killable like a real crash."""

    def __init__(self, workdir: Path, env: dict[str, str], concurrency: int) -> None:
        self.workdir, self.env, self.concurrency = workdir, env, concurrency
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"worker-{self.starts}.log"

    def start(self) -> Worker:
        self.starts += 1
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "exchange",
            "worker",
            "-B",
            "--schedule",
            str(self.workdir / "beat-schedule"),
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "INFO",
            "--hostname",
            f"switchyard-it-{os.getpid()}-{next(_NAMES)}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with self.log_path.open("wb") as log:
            # Its own session: a kill of the group takes the pool children down too.
            self.proc = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited at start:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"the worker was not ready in {READY_TIMEOUT_S} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), like an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def worker_env() -> dict[str, str]:
    """The environment a worker (or a second web process) gets: ours, on the test database."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url()
    env["SWITCHYARD_TESTING"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@pytest.fixture
def purged_queue() -> None:
    """No task left over from another run reaches this test's worker."""
    from exchange.celery import app

    app.control.purge()


@pytest.fixture
def celery_worker(
    tmp_path: Path, worker_env: dict[str, str], purged_queue: None
) -> Iterator[Callable[..., Worker]]:
    """``celery_worker()`` starts a worker (``start=False``: build it only); all stop at the end."""
    workers: list[Worker] = []

    def make(*, concurrency: int = 4, start: bool = True) -> Worker:
        worker = Worker(tmp_path, worker_env, concurrency)
        workers.append(worker)
        return worker.start() if start else worker

    yield make
    for worker in workers:
        worker.stop()


def wait_for(
    check: Callable[[], Any], timeout: float, what: str, worker: Worker | None = None
) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the worker's log if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    log = f"\n--- worker log ---\n{worker.log()}" if worker else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{log}")


def free_port() -> int:
    """A free port from ``IT_PORT_BASE`` (default 18300) up, so parallel runs on a shared
    machine can each be given a range of their own."""
    base = int(os.environ.get("IT_PORT_BASE", "18300"))
    for port in range(base, base + 100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {base}..{base + 99}")


def web_command(server: str, port: int) -> list[str]:
    """One production web process as the README runs it (one worker, its request threads)."""
    if server == "granian":
        return [
            sys.executable, "-m", "granian", "--interface", "wsgi", "exchange.wsgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--blocking-threads", "8",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", "--workers", "1",
        "--bind", f"127.0.0.1:{port}", "exchange.wsgi:application",
    ]  # fmt: skip


@pytest.fixture
def web_processes(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., list[str]]]:
    """``web_processes(count, server=..., env=...)`` starts that many web server processes
    on the test database and returns their base URLs once each answers; all stop at the end,
    and their database sessions are gone before the test database is dropped."""
    from django.conf import settings
    from django.db import connection

    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("needs CACHE_URL on Redis (rediscache://...)")
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        count: int = 2, *, server: str = "gunicorn", env: dict[str, str] | None = None
    ) -> list[str]:
        urls = []
        for _ in range(count):
            port = free_port()
            log = (tmp_path / f"web-{len(procs)}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    web_command(server, port),
                    cwd=BASE_DIR,
                    env={**worker_env, **(env or {})},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
            _wait_until_answering(urls[-1], tmp_path)
        return urls

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
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


def _wait_until_answering(url: str, logs: Path) -> None:
    deadline = time.monotonic() + 40
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v1/health", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # answering (503 for a missing broker is still an answer)
        except OSError:
            if time.monotonic() > deadline:
                text = [p.read_text(errors="replace") for p in logs.glob("web-*.log")]
                raise AssertionError(f"a web process did not start: {text}") from None
            time.sleep(0.2)
