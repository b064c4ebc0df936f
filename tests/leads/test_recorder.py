"""Pings' call logs and circuit counts, written in batches after the answers (leads.recorder)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rest_framework.test import APIClient
from werkzeug import Response

from buyers.choices import CircuitStatus
from buyers.circuits import limit
from buyers.models import CircuitState
from leads import recorder
from leads.models import Lead, LeadEvent, TransactionLog
from plumbing.per_process import PerProcess
from tests.factories import make_campaign, make_publisher, make_vertical
from tests.factories import ping as send_ping

# The recorder writes from its own thread and connection: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Any:
    """A client that leaves the recorder alone (the suite's may wait for it): these
    tests watch the recorder themselves."""
    return APIClient()


@pytest.fixture
def batching(settings: Any) -> None:
    settings.SWITCHYARD = {**settings.SWITCHYARD, "CALL_LOG_FLUSH_MS": 50}


def ping(api: Any, key: str) -> dict[str, Any]:
    answer = send_ping(api, key)
    assert answer.status_code == 200
    return answer.json()


def eventually(check: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the recorder did not write in time"
        time.sleep(0.02)


def test_batched_call_logs_and_circuit_counts_land_after_the_answers(
    api: Any, buyer_server: Any, batching: None
) -> None:
    vertical = make_vertical()
    url = buyer_server.url_for
    # Generous timeouts: the test is about what the recorder writes, and a loaded machine
    # must not turn the good buyer's bid into a timeout.
    make_campaign(vertical, "good", ping_url=url("/good"), post_url=url("/post"), timeout_ms=3000)
    flaky = make_campaign(
        vertical, "down", ping_url=url("/down"), post_url=url("/post"), timeout_ms=3000
    )
    buyer_server.expect_request("/good").respond_with_json({"result": "accepted", "bid": "9.00"})
    buyer_server.expect_request("/down").respond_with_handler(lambda r: Response("", 503))
    _, key = make_publisher()
    pings = limit("CIRCUIT_FAILURES")

    answers = [ping(api, key) for _ in range(pings)]

    assert all(a["status"] == "accepted" for a in answers), answers
    assert Lead.objects.count() == pings  # the leads and bids are written before answering
    eventually(lambda: TransactionLog.objects.filter(kind="ping").count() == 2 * pings)
    eventually(lambda: LeadEvent.objects.count() == pings)
    # Five failures written in one or several batches still count as five in a row.
    endpoint = flaky.endpoints.get(kind="ping")
    eventually(
        lambda: CircuitState.objects.filter(endpoint=endpoint, status=CircuitStatus.OPEN).exists()
    )


def test_flush_writes_what_the_recorder_holds(
    api: Any, buyer_server: Any, settings: Any, monkeypatch: Any
) -> None:
    settings.SWITCHYARD = {**settings.SWITCHYARD, "CALL_LOG_FLUSH_MS": 60_000}
    # A recorder of its own, whose thread waits a minute: only flush() writes.
    monkeypatch.setattr(recorder, "_recorder", PerProcess(lambda: recorder.Recorder(60)))
    vertical = make_vertical()
    url = buyer_server.url_for
    make_campaign(vertical, "good", ping_url=url("/good"), post_url=url("/post"))
    buyer_server.expect_request("/good").respond_with_json({"result": "accepted", "bid": "9.00"})
    _, key = make_publisher()
    recorder.flush()  # an earlier test's recorder thread may still sleep: start clean

    ping(api, key)
    ping(api, key)
    held = TransactionLog.objects.count()
    recorder.flush()

    assert held == 0
    assert TransactionLog.objects.filter(kind="ping").count() == 2


def test_closing_an_answer_twice_records_its_calls_once(
    api: Any, buyer_server: Any, batching: None
) -> None:
    """A WSGI server may call ``close()`` more than once; the rows are handed over once
    (twice, the batch would hold the same event twice and fail as a whole)."""
    vertical = make_vertical()
    url = buyer_server.url_for
    make_campaign(vertical, "good", ping_url=url("/good"), post_url=url("/post"))
    buyer_server.expect_request("/good").respond_with_json({"result": "accepted", "bid": "9.00"})
    _, key = make_publisher()

    answer = send_ping(api, key)  # the test client closes it, as a server does
    answer.close()
    recorder.flush()

    assert answer.status_code == 200
    lead = Lead.objects.get()
    assert TransactionLog.objects.filter(lead=lead).count() == 1
    assert LeadEvent.objects.filter(lead=lead).count() == 1
