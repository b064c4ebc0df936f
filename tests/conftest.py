from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

os.environ.setdefault("SWITCHYARD_TESTING", "1")
PRODUCTION_LIKE = os.environ.get("SWITCHYARD_PRODUCTION_LIKE", "") not in ("", "0")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With production's background threads on (``tests/settings.py``), every database
    test runs on committed data: the threads use their own connections."""
    if not PRODUCTION_LIKE:
        return
    for item in items:
        marker = item.get_closest_marker("django_db")
        # Every one, those that capture on-commit callbacks too (what they capture runs
        # at each real commit instead): a test's transaction held open for the whole test
        # would hold SQLite's one write lock (or PostgreSQL's row locks) against the
        # recorder's thread, and a test waiting for the recorder would wait for ever.
        if marker is not None and not marker.kwargs.get("transaction"):
            item.add_marker(pytest.mark.django_db(**{**marker.kwargs, "transaction": True}))


if PRODUCTION_LIKE:

    @pytest.fixture
    def django_capture_on_commit_callbacks() -> Any:
        """pytest-django's capture, for a test on committed data: each callback the code
        registers is captured, and run at its transaction's real commit when
        ``execute=True`` (in a rolled-back test they would never run otherwise)."""
        from django.db import transaction

        @contextlib.contextmanager
        def capture(*, using: str = "default", execute: bool = False) -> Iterator[list]:
            callbacks: list[Any] = []
            register = transaction.on_commit

            def on_commit(func: Any, using: str | None = None, robust: bool = False) -> None:
                callbacks.append(func)
                if execute:
                    register(func, using=using, robust=robust)

            with mock.patch.object(transaction, "on_commit", on_commit):
                yield callbacks

        return capture


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """With production's background threads on, each test's end writes what the
    recorder holds and stops the threads, before the test's fixtures (its database rows)
    go: nothing a test left is written into the next one, and no thread reads a
    database being emptied. The next test that needs them starts its own."""
    if not PRODUCTION_LIKE:
        return
    from exchange.config_cache import stop_refresher
    from leads import recorder

    recorder.stop()
    stop_refresher()


@pytest.fixture(scope="session", autouse=True)
def _zip_data_loaded() -> None:
    # Read once per test process, before any test's clock starts (as exchange.wsgi does).
    from plumbing import zipdata

    zipdata.index()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop this process's background refresher before the test database goes away."""
    from exchange.config_cache import stop_refresher

    stop_refresher()


@pytest.fixture(autouse=True)
def _fresh_config_cache() -> Iterator[None]:
    # Each test builds its own configuration inside a rolled-back transaction.
    from buyers.circuits import forget
    from exchange.config_cache import invalidate_local

    invalidate_local()
    forget()
    yield
    invalidate_local()
    forget()


@pytest.fixture
def buyer_server() -> Iterator[Any]:
    """A real local HTTP server standing in for buyers' APIs; it answers concurrently,
    so one hung buyer does not hold up the others."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.release = threading.Event()  # type: ignore[attr-defined]
    server.start()
    yield server
    server.release.set()  # type: ignore[attr-defined]
    server.clear()
    server.stop()


@pytest.fixture
def api() -> Any:
    from rest_framework.test import APIClient

    if not PRODUCTION_LIKE:
        return APIClient()
    from leads import recorder

    class WaitingForTheRecorder(APIClient):
        """Returns each answer once the recorder has written what the request left it
        (production writes it within CALL_LOG_FLUSH_MS; a test reads it at once)."""

        def request(self, *args: Any, **kwargs: Any) -> Any:
            response = super().request(*args, **kwargs)
            recorder.flush()
            return response

    return WaitingForTheRecorder()


@pytest.fixture
def one_rate_window() -> None:
    """Rate limits count in fixed windows (a minute for ``n/min``): a test that makes a few
    requests against such a limit starts far enough from a window's edge that all of them
    fall in the same window, even on a loaded machine."""
    import time

    left = 60 - time.time() % 60
    if left < 15:
        time.sleep(left + 0.1)
