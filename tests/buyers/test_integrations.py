"""Buyers with their own APIs, configured without code (a YAML file, the admin), receive
exactly the bodies and headers their mappings describe: through the public API, against
a real local HTTP server standing in for each buyer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from werkzeug import Request, Response

from buyers import auth
from buyers.models import Campaign, Credential
from exchange.configfile import import_config
from leads.models import Lead

pytestmark = pytest.mark.django_db

KEY = "sy_live_integration_0123456789abcdef"

CONFIG = """
verticals:
  - slug: auto-insurance
    name: Auto insurance
    fields:
      - {name: credit_tier, type: choice, choices: [excellent, good, fair, poor], stage: ping}
publishers:
  - slug: acme
    name: Acme
    payout: {model: revenue_share, percent: 50}
    keys: [{name: main, key: PUBLISHER_KEY}]
buyers:
  # XML posts with OAuth2 client credentials, the token shared by ping and post.
  - slug: xmlco
    name: XML Co
    timezone: America/Chicago
    campaigns:
      - slug: xmlco-tx
        vertical: auto-insurance
        filters: [{field: state, op: eq, value: TX}]
        ping:
          url: SERVER/xmlco/ping
          format: json
          timeout_ms: 2000
          auth: &xmlco_auth
            type: oauth2
            token_url: SERVER/xmlco/token
            client_id: switchyard
            client_secret: xml-client-secret
            scope: leads
            credential: xmlco-oauth
          mapping: [{to: zip_code, from: zip}, {to: state, from: state}]
          response:
            accepted: {path: result, equals: [accepted]}
            price: {path: bid}
            reference: {path: bid_id}
        post:
          url: SERVER/xmlco/post
          format: xml
          timeout_ms: 2000
          headers: {X-Source: switchyard}
          auth: *xmlco_auth
          mapping:
            - {to: lead/ref, from: bid.reference}
            - {to: lead/name, template: "{first_name} {last_name}"}
            - {to: lead/phone, from: phone, transforms: [digits]}
            - {to: lead/contact/email, from: email}
          response:
            accepted: {path: response/status, equals: [ok]}
            reference: {path: response/lead_id}
            reason: {path: response/error}
  # Form posts with basic auth, a fixed price and no ping endpoint, text answers.
  - slug: formco
    name: Form Co
    campaigns:
      - slug: formco-ca
        vertical: auto-insurance
        pricing: {model: fixed, price: "8.00"}
        filters: [{field: state, op: eq, value: CA}]
        post:
          url: SERVER/formco/post
          format: form
          timeout_ms: 2000
          auth: {type: basic, username: formco-user, password_env: FORMCO_PASSWORD}
          mapping:
            - {to: first, from: first_name, transforms: [upper]}
            - {to: last, from: last_name, transforms: [upper]}
            - {to: phone, from: phone, transforms: [digits, {truncate: 11}]}
            - {to: zip, from: zip}
            - {to: tier, from: credit_tier, map: {excellent: A, good: B}, default: C}
          response:
            accepted: {contains: "OK"}
            reference: {regex: "id=(\\\\w+)"}
  # JSON with a bearer key, nested objects and a static value.
  - slug: jsonco
    name: JSON Co
    campaigns:
      - slug: jsonco-fl
        vertical: auto-insurance
        filters: [{field: state, op: eq, value: FL}]
        ping:
          url: SERVER/jsonco/ping
          format: json
          timeout_ms: 2000
          auth: {type: bearer, token_env: JSONCO_TOKEN, credential: jsonco-key}
          mapping: [{to: lead.zip, from: zip}, {to: lead.tier, from: credit_tier}]
          response:
            accepted: {path: decision, equals: [accept]}
            price: {path: offer.amount}
            reference: {path: offer.id}
        post:
          url: SERVER/jsonco/post
          format: json
          timeout_ms: 2000
          auth: {type: bearer, token_env: JSONCO_TOKEN, credential: jsonco-key}
          mapping:
            - {to: ref, from: bid.reference}
            - {to: contact.first_name, from: first_name}
            - {to: contact.email, from: email, transforms: [upper]}
            - {to: contact.phone, from: phone}
            - {to: source, value: switchyard}
          response:
            accepted: {path: ok, equals: ["true"]}
  # An HMAC-signed ping and a header-key post.
  - slug: hooked
    name: Hooked
    campaigns:
      - slug: hooked-ny
        vertical: auto-insurance
        filters: [{field: state, op: eq, value: NY}]
        ping:
          url: SERVER/hooked/ping
          format: json
          timeout_ms: 2000
          auth: {type: hmac, header: X-Hooked-Signature, secret: hooked-hmac-key}
          mapping: [{to: zip, from: zip}]
          response: {accepted: {path: result, equals: [accepted]}, price: {path: bid}}
        post:
          url: SERVER/hooked/post
          format: json
          timeout_ms: 2000
          auth: {type: header, name: X-Api-Key, value_env: HOOKED_KEY}
          mapping: [{to: phone, from: phone}]
          response: {accepted: {status: "200-299"}}
"""

LEADS = {
    "TX": {"zip": "75001", "state": "TX", "credit_tier": "good"},
    "CA": {"zip": "90210", "state": "CA", "credit_tier": "excellent"},
    "FL": {"zip": "33101", "state": "FL", "credit_tier": "fair"},
    "NY": {"zip": "10001", "state": "NY", "credit_tier": "good"},
}
PERSON = {
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann.lee@example.com",
    "phone": "(214) 555-0143",
}


def xml_reply(body: str) -> Response:
    return Response(body, content_type="application/xml")


def json_reply(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), content_type="application/json")


class Tokens:
    """The buyer's OAuth2 token endpoint: each call issues the next token."""

    def __init__(self) -> None:
        self.issued = 0
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        self.issued += 1
        return json_reply({"access_token": f"tok-{self.issued}", "expires_in": 3600})


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def exchange(buyer_server: Any, tokens: Tokens, monkeypatch: Any) -> Any:
    monkeypatch.setenv("FORMCO_PASSWORD", "form-pass")
    monkeypatch.setenv("JSONCO_TOKEN", "json-bearer-key")
    monkeypatch.setenv("HOOKED_KEY", "hooked-api-key")
    server = buyer_server.url_for("").rstrip("/")
    import_config(CONFIG.replace("SERVER", server).replace("PUBLISHER_KEY", KEY))
    # A token another test cached for a credential with the same id must not leak in.
    auth.forget_oauth2_token(Credential.objects.get(name="xmlco-oauth"))

    on = buyer_server.expect_request
    on("/xmlco/token", method="POST").respond_with_handler(tokens)
    on("/xmlco/ping").respond_with_handler(
        lambda r: json_reply({"result": "accepted", "bid": "20.00", "bid_id": "X-REF"})
    )
    on("/xmlco/post").respond_with_handler(
        lambda r: xml_reply("<response><status>ok</status><lead_id>X-1</lead_id></response>")
    )
    on("/formco/post").respond_with_handler(
        lambda r: Response("OK id=F77", content_type="text/plain")
    )
    on("/jsonco/ping").respond_with_handler(
        lambda r: json_reply({"decision": "accept", "offer": {"amount": "14.00", "id": "J-REF"}})
    )
    on("/jsonco/post").respond_with_handler(lambda r: json_reply({"ok": "true"}))
    on("/hooked/ping").respond_with_handler(
        lambda r: json_reply({"result": "accepted", "bid": "9"})
    )
    on("/hooked/post").respond_with_handler(lambda r: json_reply({}))
    return buyer_server


def sell(api: Any, state: str) -> str:
    """Ping and post one lead from ``state``; returns its id once sold."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {KEY}"}
    body = {"vertical": "auto-insurance", "lead": LEADS[state]}
    pinged = api.post("/api/v1/ping", body, format="json", **headers).json()
    assert pinged["status"] == "accepted", pinged
    lead = {**LEADS[state], **PERSON}
    sold = api.post(
        "/api/v1/post", {"ping_id": pinged["ping_id"], "lead": lead}, format="json", **headers
    )
    assert sold.json()["status"] == "sold", sold.json()
    return pinged["ping_id"]


def received(server: Any, path: str) -> list[Request]:
    return [request for request, _ in server.log if request.path == path]


def test_an_xml_buyer_with_oauth2_gets_its_mapped_xml_and_a_bearer_token(
    api: Any, exchange: Any, tokens: Tokens
) -> None:
    lead_id = sell(api, "TX")

    (ping,) = received(exchange, "/xmlco/ping")
    assert ping.get_data() == b'{"zip_code":"75001","state":"TX"}'
    assert ping.headers["Authorization"] == "Bearer tok-1"
    (post,) = received(exchange, "/xmlco/post")
    assert post.get_data().decode() == (
        '<?xml version="1.0" encoding="UTF-8"?><lead><ref>X-REF</ref><name>Ann Lee</name>'
        "<phone>12145550143</phone><contact><email>ann.lee@example.com</email></contact></lead>"
    )
    assert post.headers["Content-Type"] == "application/xml"
    assert post.headers["Authorization"] == "Bearer tok-1"
    assert post.headers["X-Source"] == "switchyard"
    assert post.headers["Idempotency-Key"].startswith(lead_id)
    (token_request,) = tokens.requests
    assert parse_qs(token_request.get_data().decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["leads"],
    }
    credentials = base64.b64encode(b"switchyard:xml-client-secret").decode()
    assert token_request.headers["Authorization"] == f"Basic {credentials}"
    assert Lead.objects.get(pk=lead_id).sold_campaign.slug == "xmlco-tx"


def test_an_oauth2_token_is_fetched_once_and_reused_until_it_nears_expiry(
    api: Any, exchange: Any, tokens: Tokens, monkeypatch: Any
) -> None:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {KEY}"}
    ping = {"vertical": "auto-insurance", "lead": LEADS["TX"]}
    for _ in range(5):
        assert (
            api.post("/api/v1/ping", ping, format="json", **headers).json()["status"] == "accepted"
        )

    assert tokens.issued == 1
    pings = received(exchange, "/xmlco/ping")
    assert [p.headers["Authorization"] for p in pings] == ["Bearer tok-1"] * 5

    # An hour later the token is inside its refresh margin: the next call renews it.
    monkeypatch.setattr(auth, "TOKEN_REFRESH_MARGIN_S", 3600)
    api.post("/api/v1/ping", ping, format="json", **headers)

    assert tokens.issued == 2
    assert received(exchange, "/xmlco/ping")[-1].headers["Authorization"] == "Bearer tok-2"


def test_a_form_buyer_with_basic_auth_gets_its_form_fields(api: Any, exchange: Any) -> None:
    sell(api, "CA")

    (post,) = received(exchange, "/formco/post")
    assert post.get_data() == b"first=ANN&last=LEE&phone=12145550143&zip=90210&tier=A"
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert (
        post.headers["Authorization"]
        == "Basic " + base64.b64encode(b"formco-user:form-pass").decode()
    )
    assert received(exchange, "/xmlco/ping") == []  # filtered out: not a Texan lead
    assert Lead.objects.get(sold_campaign__slug="formco-ca").price == 8


def test_a_json_buyer_with_a_bearer_key_gets_nested_json(api: Any, exchange: Any) -> None:
    sell(api, "FL")

    (ping,) = received(exchange, "/jsonco/ping")
    assert ping.get_data() == b'{"lead":{"zip":"33101","tier":"fair"}}'
    assert ping.headers["Authorization"] == "Bearer json-bearer-key"
    (post,) = received(exchange, "/jsonco/post")
    assert json.loads(post.get_data()) == {
        "ref": "J-REF",
        "contact": {"first_name": "Ann", "email": "ANN.LEE@EXAMPLE.COM", "phone": "+12145550143"},
        "source": "switchyard",
    }
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["Authorization"] == "Bearer json-bearer-key"


def test_an_hmac_signed_ping_and_a_header_key_post(api: Any, exchange: Any) -> None:
    sell(api, "NY")

    (ping,) = received(exchange, "/hooked/ping")
    body = ping.get_data()
    expected = hmac.new(b"hooked-hmac-key", body, hashlib.sha256).hexdigest()
    assert body == b'{"zip":"10001"}'
    assert ping.headers["X-Hooked-Signature"] == f"sha256={expected}"
    (post,) = received(exchange, "/hooked/post")
    assert post.headers["X-Api-Key"] == "hooked-api-key"
    assert post.get_data() == b'{"phone":"+12145550143"}'


def test_a_mapping_edited_in_the_admin_is_what_the_buyer_receives_next(
    api: Any, exchange: Any, client: Any, django_user_model: Any
) -> None:
    from tests.buyers.test_admin import form_data

    client.force_login(django_user_model.objects.create_superuser("al", "al@example.com", "pw"))
    campaign = Campaign.objects.get(slug="jsonco-fl")
    post_index = [e.kind for e in campaign.endpoints.order_by("kind")].index("post")
    mapping = [
        {"to": "reference", "from": "bid.reference"},
        {"to": "name", "template": "{last_name}, {first_name}"},
    ]
    answer = client.post(
        f"/admin/buyers/campaign/{campaign.pk}/change/",
        form_data(campaign, **{f"endpoints-{post_index}-mapping": mapping}),
    )
    assert answer.status_code == 302

    sell(api, "FL")

    (post,) = received(exchange, "/jsonco/post")
    assert post.get_data() == b'{"reference":"J-REF","name":"Lee, Ann"}'
