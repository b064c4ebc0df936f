"""The background refresher: a change saved by another process reaches this one's
configuration and circuit snapshot without any request making a query for it."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from buyers import circuits
from buyers.models import CircuitState, Endpoint
from exchange.config_cache import Refresher, get_config
from exchange.models import ConfigRevision, Vertical
from tests.factories import make_campaign, make_publisher, make_vertical


@pytest.mark.django_db(transaction=True)  # the refresher reads on its own connection
def test_another_process_change_is_picked_up_in_the_background(settings: Any) -> None:
    settings.SWITCHYARD = {
        **settings.SWITCHYARD,
        "CONFIG_CACHE_SECONDS": 1.0,
        "CIRCUIT_STATE_SECONDS": 1.0,
    }
    vertical = make_vertical()
    make_publisher()
    make_campaign(vertical, "summit", ping_url="http://127.0.0.1:9/ping", post_url="http://x/p")
    endpoint = Endpoint.objects.get(campaign__slug="summit", kind="ping")
    assert get_config().verticals["auto-insurance"].name != "Renamed"
    assert circuits.open_endpoints([endpoint.pk]) == set()
    # What another process's save leaves behind: new rows and a moved revision, with
    # no signal in this process.
    Vertical.objects.filter(pk=vertical.pk).update(name="Renamed")
    ConfigRevision.objects.update(number=F("number") + 1)
    CircuitState.objects.create(
        endpoint=endpoint, status="open", retry_at=timezone.now() + timedelta(minutes=5)
    )

    refresher = Refresher()
    try:
        deadline = time.monotonic() + 5
        with CaptureQueriesContext(connection) as queries:
            while True:
                name = get_config().verticals["auto-insurance"].name
                open_now = endpoint.pk in circuits.open_endpoints([endpoint.pk])
                if (name, open_now) == ("Renamed", True) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
    finally:
        refresher.stop()

    assert (name, open_now) == ("Renamed", True)
    assert queries.captured_queries == []  # this thread, the request's, asked nothing
    assert not refresher.thread.is_alive()


@pytest.mark.django_db(transaction=True)  # the rebuilding thread reads on its own connection
def test_a_key_saved_here_is_honoured_at_once_while_another_thread_rebuilds(
    api: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request must not be answered from the old configuration because another thread
    (the background refresher) has started rebuilding it: the new key was refused 401."""
    import threading

    from django.db import connections

    from exchange import config_cache
    from exchange.services import create_api_key

    settings.SWITCHYARD = {**settings.SWITCHYARD, "CONFIG_CACHE_SECONDS": 60.0}
    publisher, first_key = make_publisher()
    lead = "/api/v1/leads/00000000-0000-4000-8000-000000000000"
    # The configuration built, and fresh for a minute (the first request also loads
    # what every request needs, so the one below reaches the key check at once).
    assert api.get(lead, HTTP_AUTHORIZATION=f"Bearer {first_key}").status_code == 404
    real_build = config_cache.build_config
    rebuilding, go_on = threading.Event(), threading.Event()

    def slow_build(revision: int) -> Any:
        if threading.current_thread().name == "rebuilder":
            rebuilding.set()
            go_on.wait(5)
        return real_build(revision)

    monkeypatch.setattr(config_cache, "build_config", slow_build)
    _, key = create_api_key(kind="live", name="second", publisher=publisher)

    def rebuild() -> None:
        try:
            config_cache._cache.check()
        finally:
            connections.close_all()

    rebuilder = threading.Thread(target=rebuild, name="rebuilder")
    rebuilder.start()
    assert rebuilding.wait(5)
    threading.Timer(1.0, go_on.set).start()  # the rebuild ends a moment later
    answer = api.get(lead, HTTP_AUTHORIZATION=f"Bearer {key}")
    rebuilder.join(10)

    assert answer.status_code == 404, answer.content  # the key is known: no such lead
