"""A signed postback sent many times at once is recorded once and the copies answered
``replayed``; many reports of one event at once leave one disposition. On PostgreSQL,
every thread on its own connection, through the public API."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.db import connection
from rest_framework.test import APIClient

from exchange.config_cache import get_config
from leads.dispositions import postback_secret
from leads.models import Disposition
from tests.factories import POST_LEAD, make_campaign, make_publisher, make_vertical
from tests.integration.test_duplicates_concurrency import at_once

COPIES = 10


def signed(secret: str, **params: str) -> dict[str, str]:
    canonical = urlencode(sorted(params.items()), quote_via=quote, safe="")
    return {
        **params,
        "sig": hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest(),
    }


@pytest.fixture
def sold(buyer_server: Any) -> dict[str, Any]:
    if connection.vendor != "postgresql":
        pytest.skip("set DATABASE_URL to PostgreSQL to run the postback races")
    buyer_server.expect_request("/post").respond_with_json({"status": "ok", "lead_id": "B"})
    vertical = make_vertical()
    _, key = make_publisher()
    campaign = make_campaign(
        vertical, "race", post_url=buyer_server.url_for("/post"), pricing_model="fixed",
        fixed_price="12.00",
    )  # fmt: skip
    answer = (
        APIClient()
        .post(
            "/api/v1/leads",
            {"vertical": "auto-insurance", "lead": POST_LEAD},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        .json()
    )
    assert answer["status"] == "sold"
    get_config()  # built once before the race
    return {"lead_id": answer["lead_id"], "secret": postback_secret(campaign)}


def _get(params: dict[str, str]) -> tuple[int, str]:
    answer = APIClient().get("/api/v1/postback/race", params)
    body = answer.json()
    return answer.status_code, body.get("status") or body["error"]["code"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_one_signed_postback_sent_ten_times_at_once_is_recorded_once(sold: dict) -> None:
    params = signed(
        sold["secret"], lead_id=sold["lead_id"], event="converted", ts=str(int(time.time()))
    )

    answers = at_once([lambda: _get(params) for _ in range(COPIES)], close_connections=True)

    assert sorted(answers) == [(201, "recorded")] + [(409, "replayed")] * (COPIES - 1)
    assert Disposition.objects.filter(lead_id=sold["lead_id"]).count() == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_ten_different_reports_of_one_event_at_once_leave_one_disposition(sold: dict) -> None:
    now = str(int(time.time()))
    calls = [
        lambda n=n: _get(
            signed(sold["secret"], lead_id=sold["lead_id"], event="bad", ts=now, nonce=str(n))
        )
        for n in range(COPIES)
    ]

    answers = at_once(calls, close_connections=True)

    assert sorted(answers) == [(200, "already_recorded")] * (COPIES - 1) + [(201, "recorded")]
    assert Disposition.objects.filter(lead_id=sold["lead_id"]).count() == 1
