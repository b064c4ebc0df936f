"""A saturated web process sheds load: a fast JSON 503 with Retry-After, nothing done
for that request, nothing sold (SPEC §3, §11; ``exchange.api.shedding``)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests
from werkzeug import Request, Response

from leads.models import Lead
from tests.factories import POST_LEAD, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def one_at_a_time(settings: Any) -> None:
    settings.SWITCHYARD = {**settings.SWITCHYARD, "API_MAX_IN_FLIGHT": 1}


def test_a_request_beyond_the_in_flight_limit_gets_a_503_and_sells_nothing(
    live_server: Any, buyer_server: Any, one_at_a_time: None
) -> None:
    reached, release = threading.Event(), threading.Event()

    def slow_accept(request: Request) -> Response:
        reached.set()
        release.wait(10)
        return Response(json.dumps({"status": "ok"}), content_type="application/json")

    buyer_server.expect_request("/post").respond_with_handler(slow_accept)
    vertical = make_vertical()
    make_campaign(
        vertical,
        "steady",
        post_url=buyer_server.url_for("/post"),
        pricing_model="fixed",
        fixed_price="7.00",
    )
    _, key = make_publisher()
    headers = {"Authorization": f"Bearer {key}"}
    url = f"{live_server.url}/api/v1/leads"
    first: dict[str, Any] = {}

    def post_first() -> None:
        body = {"vertical": "auto-insurance", "lead": POST_LEAD}
        first["answer"] = requests.post(url, json=body, headers=headers, timeout=20)

    thread = threading.Thread(target=post_first)
    thread.start()
    try:
        assert reached.wait(10), "the first post never reached the buyer"
        other = {**POST_LEAD, "phone": "2145550199", "email": "other@example.com"}
        shed = requests.post(
            url, json={"vertical": "auto-insurance", "lead": other}, headers=headers, timeout=20
        )
        # Answered while the first post still waits on its buyer, not queued behind it.
        answered_while_busy = thread.is_alive()
    finally:
        release.set()
        thread.join(20)

    assert shed.status_code == 503
    assert shed.headers["Retry-After"] == "1"
    assert shed.json()["error"]["code"] == "overloaded"
    assert answered_while_busy
    assert first["answer"].status_code == 200
    assert first["answer"].json()["status"] == "sold"
    assert Lead.objects.count() == 1  # nothing written for the shed request
    # Once the first is done, the next one is served again.
    again = requests.get(
        f"{live_server.url}/api/v1/leads/{first['answer'].json()['lead_id']}",
        headers=headers,
        timeout=20,
    )
    assert again.status_code == 200


def test_the_health_check_is_never_shed(live_server: Any, settings: Any) -> None:
    settings.SWITCHYARD = {
        **settings.SWITCHYARD,
        "API_MAX_IN_FLIGHT": 1,
        "API_QUEUE_DEADLINE_MS": 1,
    }
    answer = requests.get(
        f"{live_server.url}/api/v1/health", headers={"X-Request-Start": "t=1"}, timeout=20
    )
    assert answer.status_code == 200


@pytest.mark.parametrize("unit", [1, 1000, 1_000_000])
def test_a_request_that_queued_past_the_deadline_is_not_started(
    api: Any, buyer_server: Any, unit: int
) -> None:
    buyer_server.expect_request("/post").respond_with_json({"status": "ok"})
    vertical = make_vertical()
    make_campaign(
        vertical,
        "steady",
        post_url=buyer_server.url_for("/post"),
        pricing_model="fixed",
        fixed_price="7.00",
    )
    _, key = make_publisher()
    body = {"vertical": "auto-insurance", "lead": POST_LEAD}
    stamp = f"t={int((time.time() - 5) * unit)}"  # arrived at the proxy 5 s ago

    answer = api.post(
        "/api/v1/leads", body, format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_X_REQUEST_START=stamp,
    )  # fmt: skip

    assert answer.status_code == 503
    assert answer["Retry-After"] == "1"
    assert answer.json()["error"]["code"] == "overloaded"
    assert not Lead.objects.exists()
    assert not buyer_server.log

    fresh = f"t={time.time():.3f}"
    served = api.post(
        "/api/v1/leads", body, format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_X_REQUEST_START=fresh,
    )  # fmt: skip
    assert served.json()["status"] == "sold"
