"""Fuzz every operation of the public API from its own OpenAPI schema (SPEC §11).

Schemathesis reads ``/api/schema/`` from the app in-process. Two passes per operation,
every request with a real key, so it gets past authentication:

- the schema's own cases: coverage (boundaries, wrong types, missing fields, unexpected
  methods and content types) and random valid and invalid requests, in all four body
  formats;
- the same requests aimed at the market, which the schema cannot know: the real vertical,
  ping and lead ids, and real lead fields holding hostile values (NUL, lone surrogates,
  huge numbers, dates at the ends of the calendar...), so they reach lead validation, the
  auction and the database.

Whatever is sent: never a 5xx, and every 4xx is the documented error shape (SPEC §3).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from werkzeug import Response as WerkzeugResponse

from buyers.models import Buyer
from exchange.services import create_api_key
from plumbing.fields import STANDARD_FIELD_NAMES
from tests.factories import PING_LEAD, POST_LEAD, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

# The schema endpoint needs no database, so it is read once, at collection.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)

LEAD_FIELDS = sorted(STANDARD_FIELD_NAMES | {"credit_tier"})
LIST_PARAMS = ["sold_after", "sold_before", "status", "campaign", "limit", "offset"]
# Text that breaks parsers and databases, drawn beside arbitrary text.
NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "http://example.com/\x00",
    "\ud800",
    "\udfff x",
    "٧٥٠٠١",
    "NaN",
    "-Infinity",
    "1e999999999",
    "-0",
    "0001-01-01",
    "9999-12-31",
    "2024-02-30",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "+1 214 555 0143 ext. 99999999999999999999",
    "::ffff:1.2.3.4%eth0",
    "x" * 6000,
]


def _has_surrogate(chars: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in chars)


# Any text at all, lone surrogates included: JSON bodies can carry them as \uD800 escapes.
text = st.one_of(
    st.sampled_from(NASTY_TEXT), st.text(st.characters(exclude_categories=()), max_size=20)
)
# What a URL can carry.
url_text = st.one_of(st.sampled_from([t for t in NASTY_TEXT if not _has_surrogate(t)]), st.text())
scalar = st.one_of(
    text,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
)
value = st.one_of(
    text, text, scalar, st.lists(scalar, max_size=3), st.dictionaries(text, scalar, max_size=3)
)


def spec_error_shape(ctx: Any, response: Any, case: Any) -> None:
    """A 4xx answer is JSON ``{"error": {"code": str, "message": str, "fields"?: {...}}}``."""
    if not 400 <= response.status_code < 500:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), (
        f"a {response.status_code} answer is {content_type or 'untyped'}, not JSON"
    )
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, f"not an error envelope: {body!r}"
    error = body["error"]
    assert isinstance(error, dict), f"'error' is not an object: {error!r}"
    assert isinstance(error.get("code"), str) and error["code"], f"no error code: {error!r}"
    assert isinstance(error.get("message"), str) and error["message"], f"no message: {error!r}"
    assert set(error) <= {"code", "message", "fields"}, f"unexpected keys: {error!r}"
    if "fields" in error:
        assert isinstance(error["fields"], dict), f"'fields' is not an object: {error!r}"


@pytest.fixture
def market(api: Any, buyer_server: Any) -> Iterator[dict[str, str]]:
    """A vertical, a publisher, a fixed-price campaign whose post endpoint (a local server)
    accepts everything, one sold lead, one open ping, and a key for the campaign's buyer."""
    buyer_server.expect_request("/fuzz/post").respond_with_handler(
        lambda request: WerkzeugResponse(
            json.dumps({"status": "ok", "lead_id": "FUZZ-1"}), content_type="application/json"
        )
    )
    vertical = make_vertical()
    _, publisher_key = make_publisher()
    buyer = Buyer.objects.create(slug="fuzz-buyer", name="Fuzz Buyer")
    make_campaign(
        vertical,
        "fuzz",
        buyer=buyer,
        post_url=buyer_server.url_for("/fuzz/post"),
        pricing_model="fixed",
        fixed_price="25.00",
    )
    auth = {"format": "json", "HTTP_AUTHORIZATION": f"Bearer {publisher_key}"}
    sold = api.post("/api/v1/leads", {"vertical": vertical.slug, "lead": POST_LEAD}, **auth)
    assert sold.status_code == 200 and sold.json()["status"] == "sold", sold.content
    pinged = api.post("/api/v1/ping", {"vertical": vertical.slug, "lead": PING_LEAD}, **auth)
    assert pinged.status_code == 200 and pinged.json()["status"] == "accepted", pinged.content
    _, buyer_key = create_api_key(kind="buyer", buyer=buyer)
    # Schemathesis calls Django's plain WSGI handler, which closes the database connection
    # around each request, and the test's transaction with it. Like Django's test client
    # (which connects these again after each of its own requests, hence only now), keep it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {
        "publisher_key": publisher_key,
        "buyer_key": buyer_key,
        "vertical": vertical.slug,
        "ping_id": pinged.json()["ping_id"],
        "lead_id": sold.json()["lead_id"],
    }
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def call_and_check(case: schemathesis.Case, market: dict[str, str], **kwargs: Any) -> None:
    buyer_api = "buyers" in (case.operation.tags or [])
    key = market["buyer_key"] if buyer_api else market["publisher_key"]
    headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
    # ``buffered``: read the answer and close it, as a WSGI server does, so work the view
    # runs after answering (AnswerFirst) runs too.
    response = case.call(headers=headers, buffered=True, **kwargs)
    try:
        case.validate_response(response, checks=[not_a_server_error, spec_error_shape])
    except BaseExceptionGroup as failures:
        if "data" in kwargs:
            # Schemathesis' curl line shows the generated body, not this one.
            failures.add_note(f"The body sent was: {kwargs['data'].decode()}")
        raise


@schema.parametrize()
@settings(FUZZ_SETTINGS, max_examples=30)
def test_the_schema_s_requests_never_get_a_5xx_and_4xx_follow_the_error_format(
    case: schemathesis.Case, market: dict[str, str]
) -> None:
    call_and_check(case, market)


@schema.exclude(path="/api/v1/health").parametrize()
@schema.given(data=st.data())
@settings(FUZZ_SETTINGS, max_examples=40)
def test_requests_aimed_at_real_rows_and_fields_never_get_a_5xx_either(
    case: schemathesis.Case, data: st.DataObject, market: dict[str, str]
) -> None:
    call_and_check(case, market, **aim_at_the_market(case, data, market))


def aim_at_the_market(case: schemathesis.Case, data: st.DataObject, market: dict) -> dict:
    """Point a generated request at real rows and real lead fields, with hostile values;
    answer the extra arguments of ``case.call``."""
    if "lead_id" in (case.path_parameters or {}):
        lead_id = data.draw(
            st.one_of(st.sampled_from([market["lead_id"], market["ping_id"]]), url_text)
        )
        case.path_parameters["lead_id"] = quote(lead_id, safe="")
    if case.path.endswith("/buyer/leads"):
        case.query = data.draw(st.dictionaries(st.sampled_from(LIST_PARAMS), url_text))
    if case.method != "POST":
        return {}
    body = dict(case.body) if isinstance(case.body, dict) else {}
    for name in ("vertical", "ping_id", "lead_id"):
        if name in body or data.draw(st.booleans()):
            # Mostly the real one; sometimes anything at all.
            body[name] = data.draw(st.one_of(st.just(market[name]), st.just(market[name]), value))
    if data.draw(st.booleans()):
        body["sub_id"] = data.draw(value)
    if "reason" in body:
        body["reason"] = data.draw(st.sampled_from(["bad_data", "duplicate", "other", "bogus"]))
    if "note" in body or data.draw(st.booleans()):
        body["note"] = data.draw(value)
    lead = dict(POST_LEAD if case.path.endswith(("/post", "/leads")) else PING_LEAD)
    # A new person each time, so not every lead stops at the duplicate check.
    lead["email"] = data.draw(st.from_regex(r"[a-z]{1,12}@example\.com", fullmatch=True))
    names = st.one_of(st.sampled_from(LEAD_FIELDS), st.sampled_from(LEAD_FIELDS), text)
    lead.update(data.draw(st.dictionaries(names, value, max_size=3)))
    body["lead"] = lead
    # Sent as JSON text, as a client would write it (lone surrogates as \uD800 escapes);
    # the other formats' parsers get the schema's requests.
    return {
        "data": json.dumps(body).encode(),
        "headers": {"Content-Type": "application/json"},
    }
