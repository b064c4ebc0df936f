"""Every call to the public API leaves an inbound log row, refusals included, with the
body's personal data masked, the status, the error code, the key's prefix and latency."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from exchange.models import InboundLog
from tests.factories import (
    POST_LEAD,
    direct_post,
    make_campaign,
    make_publisher,
    make_vertical,
    ping,
)

pytestmark = pytest.mark.django_db

SHORT = {**POST_LEAD, "first_name": "Ed", "last_name": "Jo", "email": "ed.jo@example.com"}


@pytest.fixture
def key() -> str:
    vertical = make_vertical()
    make_campaign(vertical, "flat", pricing_model="fixed", fixed_price="5.00")
    _, raw = make_publisher(floor=D("1.00"))
    return raw


def test_an_accepted_ping_is_logged_with_its_key_prefix_and_latency(api: Any, key: str) -> None:
    answer = ping(api, key)

    row = InboundLog.objects.get()
    assert (row.method, row.path, row.status_code, row.error_code) == (
        "POST",
        "/api/v1/ping",
        200,
        "",
    )
    assert row.key_prefix == key[:12] and key not in row.body
    assert str(row.lead_id) == answer.json()["ping_id"]
    assert row.publisher.slug == "acme" and row.latency_ms >= 0
    assert '"credit_tier"' in row.body


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({}, {"vertical": "auto-insurance", "lead": SHORT}, 401, "unauthenticated"),
        ({"HTTP_AUTHORIZATION": "Bearer sy_live_wrongwrongwrongwrong"}, {}, 401, "unauthenticated"),
        (
            None,
            {"vertical": "auto-insurance", "lead": {**SHORT, "phone": "12"}},
            422,
            "invalid_lead",
        ),
        (None, {"vertical": "nope", "lead": SHORT}, 422, "unknown_vertical"),
    ],
)
def test_a_refused_call_is_logged_with_its_error_code_and_nothing_personal(
    api: Any, key: str, headers: dict | None, body: dict, status: int, code: str
) -> None:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if headers is None else headers

    answer = api.post("/api/v1/leads", body, format="json", **headers)

    assert answer.status_code == status
    row = InboundLog.objects.get()
    assert (row.status_code, row.error_code, row.path) == (status, code, "/api/v1/leads")
    for value in ("Ed", "Jo", "ed.jo@example.com", "555-0143"):
        assert f'"{value}"' not in row.body and value not in row.body.replace("***", "")


def test_a_rate_limited_call_is_logged_too(api: Any, key: str) -> None:
    from django.core.cache import cache

    from exchange.models import Publisher

    cache.clear()  # the limiter's counts of other tests' keys
    Publisher.objects.update(rate_limit="2/minute")
    for _ in range(3):
        answer = ping(api, key)
    assert answer.status_code == 429
    assert list(
        InboundLog.objects.order_by("created_at").values_list("status_code", flat=True)
    ) == [200, 200, 429]
    assert InboundLog.objects.filter(error_code="rate_limited").count() == 1


def test_a_sold_direct_post_is_logged_with_its_lead_and_the_names_masked(
    api: Any, key: str
) -> None:
    answer = direct_post(api, key, SHORT)

    row = InboundLog.objects.get()
    assert str(row.lead_id) == answer.json()["lead_id"]
    assert '"first_name":"***"' in row.body.replace(" ", "")
    assert "ed.jo" not in row.body


def test_an_unparseable_body_is_logged_with_personal_fields_masked_by_name(
    api: Any, key: str
) -> None:
    raw = '{"vertical": "auto-insurance", "lead": {"first_name": "Ed", "email": "e@x.io",'
    answer = api.post(
        "/api/v1/leads", raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )

    assert answer.status_code == 400
    row = InboundLog.objects.get()
    assert row.error_code == "malformed"
    assert '"first_name": "***"' in row.body and "Ed" not in row.body and "e@x.io" not in row.body


def test_the_admin_searches_the_inbound_log_by_key_prefix_and_error_code(
    api: Any, key: str, admin_client: Any
) -> None:
    ping(api, key)
    api.post(
        "/api/v1/ping", {}, format="json", HTTP_AUTHORIZATION="Bearer sy_live_nosuchkey_123456"
    )

    by_key = admin_client.get("/admin/exchange/inboundlog/", {"q": key[:12]})
    by_code = admin_client.get("/admin/exchange/inboundlog/", {"error_code": "unauthenticated"})

    assert by_key.status_code == 200 and by_key.context["cl"].result_count == 1
    assert by_code.context["cl"].result_count == 1
    assert "sy_live_nosu" in by_code.content.decode()
