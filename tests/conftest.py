from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

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
        # A test that watches what runs on commit needs its own transaction to watch.
        watches_commits = "django_capture_on_commit_callbacks" in getattr(item, "fixturenames", ())
        if marker is not None and not marker.kwargs.get("transaction") and not watches_commits:
            item.add_marker(pytest.mark.django_db(**{**marker.kwargs, "transaction": True}))


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
