"""Bad input gets the documented JSON error and status, never a 500, and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import Http404

from leads.models import Lead
from tests.factories import PING_LEAD, direct_post, make_publisher, make_vertical

pytestmark = pytest.mark.django_db


@pytest.fixture
def key() -> str:
    make_vertical()
    return make_publisher()[1]


def call(
    api: Any,
    key: str | None,
    body: Any,
    *,
    content_type: str = "application/json",
    path: str = "/api/v1/ping",
    **headers: Any,
) -> Any:
    if key:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return api.generic("POST", path, body, content_type=content_type, **headers)


def assert_error(answer: Any, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.content
    assert answer["Content-Type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert not Lead.objects.exists()
    return error


@pytest.mark.parametrize(
    "body",
    ['{"vertical": "auto-insurance", "lead": {', "not json", "", "[1, 2]", '"text"'],
)
def test_a_malformed_body_is_400(api: Any, key: str, body: str) -> None:
    assert_error(call(api, key, body), 400, "malformed")


def test_a_missing_key_is_401(api: Any, key: str) -> None:
    assert_error(
        call(api, None, '{"vertical": "auto-insurance", "lead": {}}'), 401, "unauthenticated"
    )


def test_a_wrong_key_is_401(api: Any, key: str) -> None:
    assert_error(call(api, "sy_live_nope", "{}"), 401, "unauthenticated")


def test_the_key_may_also_come_in_x_api_key(api: Any, key: str) -> None:
    answer = api.post(
        "/api/v1/ping",
        {"vertical": "auto-insurance", "lead": PING_LEAD},
        format="json",
        HTTP_X_API_KEY=key,
    )
    assert answer.status_code == 200


def test_a_revoked_key_is_401(api: Any, key: str) -> None:
    from exchange.models import ApiKey
    from exchange.services import revoke_api_keys

    revoke_api_keys(ApiKey.objects.all())
    assert_error(
        call(api, key, '{"vertical": "auto-insurance", "lead": {}}'), 401, "unauthenticated"
    )


def test_an_unknown_vertical_is_422(api: Any, key: str) -> None:
    error = assert_error(
        call(api, key, '{"vertical": "yachts", "lead": {"zip": "75001"}}'), 422, "unknown_vertical"
    )
    assert error["fields"] == {"vertical": ["unknown vertical"]}


def test_personal_data_in_a_ping_is_refused(api: Any, key: str) -> None:
    body = (
        '{"vertical": "auto-insurance", '
        '"lead": {"zip": "75001", "email": "a@b.co", "phone": "2145550143"}}'
    )
    error = assert_error(call(api, key, body), 422, "pii_in_ping")
    assert set(error["fields"]) == {"lead.email", "lead.phone"}


@pytest.mark.parametrize(
    ("lead", "field"),
    [
        ({"zip": 75001.5}, "lead.zip"),
        ({"zip": "7500"}, "lead.zip"),
        ({"zip": "75001", "credit_tier": "platinum"}, "lead.credit_tier"),
        ({"zip": "75001", "state": "Texas"}, "lead.state"),
        ({"zip": ["75001"]}, "lead.zip"),
        ({"zip": "75001", "tcpa_consent": "maybe"}, "lead.tcpa_consent"),
        ({"zip": "75001", "favourite_colour": "red"}, "lead.favourite_colour"),
        ({}, "lead.zip"),
    ],
)
def test_wrong_field_values_are_422_with_the_field_named(
    api: Any, key: str, lead: dict, field: str
) -> None:
    answer = api.post(
        "/api/v1/ping",
        {"vertical": "auto-insurance", "lead": lead},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    error = assert_error(answer, 422, "invalid_lead")
    assert field in error["fields"]


def test_a_lead_that_is_not_an_object_is_422(api: Any, key: str) -> None:
    assert_error(
        call(api, key, '{"vertical": "auto-insurance", "lead": "zip=75001"}'), 422, "invalid_lead"
    )


@pytest.mark.parametrize(
    "body",
    [
        # A lone surrogate cannot be encoded: not by the database (sub_id, on SQLite too),
        # nor in the error answer naming it (vertical, field name). All were 500s.
        r'{"vertical": "auto-insurance", "sub_id": "\ud800", "lead": {"zip": "75001"}}',
        r'{"vertical": "\udfff", "lead": {"zip": "75001"}}',
        r'{"vertical": "auto-insurance", "lead": {"zip": "75001", "\ud800": "x"}}',
        r'{"vertical": "auto-insurance", "lead": {"zip": "75001", "city": "a\udc00"}}',
    ],
)
def test_a_lone_surrogate_escape_is_400(api: Any, key: str, body: str) -> None:
    assert_error(call(api, key, body), 400, "malformed")


def test_a_surrogate_pair_is_a_character_like_any_other(api: Any, key: str) -> None:
    body = r'{"vertical": "auto-insurance", "lead": {"zip": "75001", "city": "\ud83d\ude97"}}'
    answer = call(api, key, body)
    assert answer.status_code == 200, answer.content
    assert Lead.objects.get().data["city"] == "\U0001f697"


@pytest.mark.parametrize(
    ("lead", "sub_id", "field"),
    [
        # PostgreSQL cannot store NUL in text: both were 500s there.
        ({"zip": "75001"}, "pub\x00lisher", "sub_id"),
        ({"zip": "75001", "landing_page": "https://example.com/\x00"}, "", "lead.landing_page"),
    ],
)
def test_nul_in_text_is_422(api: Any, key: str, lead: dict, sub_id: str, field: str) -> None:
    answer = api.post(
        "/api/v1/ping",
        {"vertical": "auto-insurance", "sub_id": sub_id, "lead": lead},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert answer.status_code == 422, answer.content
    assert field in answer.json()["error"]["fields"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/leads/"), ("GET", "/api/v1/leads/a%2Fb"), ("POST", "/api/v1/nope")],
)
def test_an_api_url_matching_no_endpoint_is_a_json_404(
    api: Any, key: str, method: str, path: str
) -> None:
    # These were Django's HTML 404 page.
    answer = api.generic(method, path, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert_error(answer, 404, "not_found")


def test_django_s_own_error_pages_keep_the_format_under_api_only() -> None:
    from django.test import RequestFactory

    from exchange.api.errors import page_not_found, server_error

    api_request, site_request = RequestFactory().get("/api/x"), RequestFactory().get("/x")
    for answer, status in ((page_not_found(api_request), 404), (server_error(api_request), 500)):
        assert answer.status_code == status
        assert answer["Content-Type"] == "application/json"
        assert set(json.loads(answer.content)["error"]) == {"code", "message"}
    assert page_not_found(site_request, Http404())["Content-Type"].startswith("text/html")
    assert server_error(site_request)["Content-Type"].startswith("text/html")


def test_an_unsupported_content_type_is_415(api: Any, key: str) -> None:
    assert_error(
        call(api, key, "zip 75001", content_type="text/plain"), 415, "unsupported_media_type"
    )


def test_a_body_over_the_limit_is_413(api: Any, key: str) -> None:
    body = '{"vertical": "auto-insurance", "lead": {"consent_text": "' + "x" * 70_000 + '"}}'
    assert_error(call(api, key, body), 413, "too_large")


def test_a_paused_publisher_is_403(api: Any) -> None:
    make_vertical()
    _, key = make_publisher(is_active=False)
    assert_error(
        call(api, key, '{"vertical": "auto-insurance", "lead": {"zip": "75001"}}'),
        403,
        "publisher_paused",
    )


def test_a_call_from_outside_the_ip_allowlist_is_403(api: Any) -> None:
    make_vertical()
    _, key = make_publisher(allowed_ips=["10.0.0.0/8"])
    assert_error(
        call(api, key, '{"vertical": "auto-insurance", "lead": {"zip": "75001"}}'),
        403,
        "ip_not_allowed",
    )


@pytest.mark.usefixtures("one_rate_window")
def test_too_many_requests_get_429_with_retry_after(api: Any) -> None:
    make_vertical()
    _, key = make_publisher(rate_limit="2/min")
    body = '{"vertical": "auto-insurance", "lead": {"zip": "75001"}}'
    call(api, key, body), call(api, key, body)
    Lead.objects.all().delete()

    answer = call(api, key, body)

    assert_error(answer, 429, "rate_limited")
    assert int(answer["Retry-After"]) >= 1


def test_posting_an_unknown_ping_is_404(api: Any, key: str) -> None:
    for ping_id in ("3f0f6a7e-52a4-4e39-9a59-3f1d0b6e1c11", "not-a-uuid"):
        answer = call(api, key, f'{{"ping_id": "{ping_id}", "lead": {{}}}}', path="/api/v1/post")
        assert_error(answer, 404, "ping_not_found")


def test_an_unknown_lead_is_404(api: Any, key: str) -> None:
    answer = api.get("/api/v1/leads/nope", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_form_bodies_keep_their_text(api: Any, key: str) -> None:
    body = "vertical=auto-insurance&lead[zip]=01234&lead[credit_tier]=good"
    answer = call(api, key, body, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200
    assert Lead.objects.get().data["zip"] == "01234"


def test_xml_bodies_keep_their_text(api: Any, key: str) -> None:
    body = "<lead><vertical>auto-insurance</vertical><zip>01234</zip><state>TX</state></lead>"
    answer = call(api, key, body, content_type="application/xml")
    assert answer.status_code == 200, answer.content
    assert Lead.objects.get().data == {"zip": "01234", "state": "TX"}


def test_xml_with_entities_is_refused(api: Any, key: str) -> None:
    body = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><lead><zip>&e;</zip></lead>'
    assert_error(call(api, key, body, content_type="application/xml"), 400, "malformed")


def test_health_is_ok_without_a_key(api: Any) -> None:
    answer = api.get("/api/v1/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert answer.json()["checks"]["database"] == "ok"


def test_the_openapi_schema_and_docs_are_served(api: Any) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/ping" in schema.json()["paths"]
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn." not in docs.content  # served from the sidecar package: works offline


def test_a_zip_in_non_ascii_digits_is_422(api: Any, key: str) -> None:
    answer = api.post(
        "/api/v1/ping",
        {"vertical": "auto-insurance", "lead": {**PING_LEAD, "zip": "٧٥٠٠١"}},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    assert answer.status_code == 422
    assert "lead.zip" in answer.json()["error"]["fields"]
    assert not Lead.objects.exists()


def test_an_unprintable_idempotency_key_is_400(api: Any, key: str) -> None:
    answer = direct_post(api, key, HTTP_IDEMPOTENCY_KEY="order\x001")

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "malformed"
    assert not Lead.objects.exists()
