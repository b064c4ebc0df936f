"""Buyers report what became of the leads they bought, with their key or through their
campaign's signed postback URL; the lead, its trace, the conversion figures and (when
asked) the publisher's callback show it."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from io import StringIO
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from werkzeug import Request, Response

from buyers.models import Buyer, Campaign
from exchange.models import Publisher
from exchange.services import create_api_key
from leads.models import Lead, PublisherCallback
from leads.tasks import send_publisher_callback
from reporting.tasks import refresh_rollups
from tests.factories import POST_LEAD, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db


class Hook:
    """The publisher's callback endpoint: keeps what it receives."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        return Response("ok", 200)


@pytest.fixture
def hook(buyer_server: Any) -> Hook:
    hook = Hook()
    buyer_server.expect_request("/hook").respond_with_handler(hook)
    return hook


@pytest.fixture
def market(api: Any, buyer_server: Any, hook: Hook) -> dict[str, Any]:
    """Acme sells one lead (sub_id spring) to Summit's fixed-price campaign at 25.00."""
    vertical = make_vertical()
    publisher, publisher_key = make_publisher(
        callback_url=buyer_server.url_for("/hook"), forward_dispositions=True
    )
    buyer_server.expect_request("/summit/post").respond_with_json({"status": "ok", "lead_id": "S"})
    campaign = make_campaign(
        vertical,
        "summit-tx",
        post_url=buyer_server.url_for("/summit/post"),
        pricing_model="fixed",
        fixed_price="25.00",
    )
    body = {"vertical": "auto-insurance", "sub_id": "spring", "lead": POST_LEAD}
    answer = api.post(
        "/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {publisher_key}"
    ).json()
    assert answer["status"] == "sold"
    _, buyer_key = create_api_key(kind="buyer", buyer=campaign.buyer)
    return {
        "lead_id": answer["lead_id"],
        "buyer_key": buyer_key,
        "publisher_key": publisher_key,
        "campaign": campaign,
        "publisher": publisher,
    }


@pytest.fixture
def staff(client: Any) -> Any:
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-12345")
    client.force_login(user)
    return client


def report(api: Any, key: str, **body: Any) -> Any:
    return api.post(
        "/api/v1/buyer/dispositions", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def secret_from_admin(staff: Any, campaign: Campaign) -> str:
    """The postback secret as an account manager reads it on the campaign's page."""
    page = staff.get(f"/admin/buyers/campaign/{campaign.pk}/change/").content.decode()
    found = re.search(r'field-postback_secret">.*?<div class="readonly">([^<]+)</div>', page, re.S)
    assert found, "the campaign page shows no postback secret"
    return found.group(1).strip()


def signed(secret: str, **params: str) -> dict[str, str]:
    """Sign as the docs tell a buyer to: sorted, URL-encoded, HMAC-SHA256 in hex."""
    canonical = urlencode(sorted(params.items()), quote_via=quote, safe="")
    sig = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    return {**params, "sig": sig}


def dashboard_row(staff: Any, table: str, label: str) -> list[str]:
    page = staff.get("/reports/").content.decode()
    section = page.split(f'id="conversions-{table}"', 1)[1].split("</table>", 1)[0]
    for row in re.findall(r"<tr>(.*?)</tr>", section, re.S):
        cells = [c.strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
        if cells and cells[0] == label:
            return cells
    raise AssertionError(f"no row {label!r} in {section}")


# --- by key ------------------------------------------------------------------------------


def test_a_conversion_reported_with_the_buyer_key_shows_on_the_lead_and_in_the_figures(
    api: Any, market: dict, staff: Any
) -> None:
    answer = report(
        api, market["buyer_key"], lead_id=market["lead_id"], event="converted", value="120.00"
    )

    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["event"], body["value"], body["status"]) == ("converted", "120.00", "recorded")
    page = staff.get(f"/admin/leads/lead/{market['lead_id']}/change/").content.decode()
    assert "converted worth 120.00" in page  # the routing trace
    inline = page.split('id="dispositions-group"', 1)[1]
    assert re.search(r'field-event">\s*<p>Converted</p>', inline)
    assert "120.00" in inline.split("</table>", 1)[0]

    refresh_rollups()  # the beat task
    by_publisher = dashboard_row(staff, "publisher", "Acme / spring")
    assert by_publisher[1:] == ["1", "0", "0", "1", "0", "100.0", "$120.00", "$120.00"]
    by_campaign = dashboard_row(staff, "campaign", "Summit-Tx Buyer / summit-tx")
    assert by_campaign[4] == "1" and by_campaign[6] == "100.0"
    campaign_page = staff.get(f"/admin/buyers/campaign/{market['campaign'].pk}/change/")
    assert "1 converted (100.0%, $120.00)" in campaign_page.content.decode()


def test_reporting_the_same_event_again_answers_the_first_report_and_changes_nothing(
    api: Any, market: dict
) -> None:
    first = report(api, market["buyer_key"], lead_id=market["lead_id"], event="quoted")
    again = report(
        api, market["buyer_key"], lead_id=market["lead_id"], event="quoted", value="9.00"
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["status"] == "already_recorded"
    assert again.json()["id"] == first.json()["id"] and "value" not in again.json()
    trace = Lead.objects.get(pk=market["lead_id"]).trace
    assert [t["disposition"] for t in trace if "disposition" in t] == ["quoted"]


def test_a_disposition_for_a_lead_the_buyer_did_not_buy_is_a_404(api: Any, market: dict) -> None:
    other = Buyer.objects.create(slug="other", name="Other")
    _, other_key = create_api_key(kind="buyer", buyer=other)

    theirs = report(api, other_key, lead_id=market["lead_id"], event="converted")
    unknown = report(
        api, market["buyer_key"], lead_id="7f1b2c3d-0000-4000-8000-000000000000", event="bad"
    )

    assert (theirs.status_code, unknown.status_code) == (404, 404)
    assert theirs.json()["error"]["code"] == "not_found"
    assert not Lead.objects.get(pk=market["lead_id"]).dispositions.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": "converted"}, "lead_id"),
        ({"lead_id": "not-a-uuid", "event": "converted"}, "lead_id"),
        ({"event": "sold"}, "event"),
        ({"event": "converted", "value": "12.345"}, "value"),
        ({"event": "converted", "value": 12.5}, "value"),
        ({"event": "converted", "value": "-1.00"}, "value"),
        ({"event": "converted", "value": "NaN"}, "value"),
        ({"event": "converted", "at": "yesterday"}, "at"),
        ({"event": "converted", "at": "2026-12-01T10:00:00"}, "at"),
        ({"event": "converted", "at": "2999-01-01T00:00:00Z"}, "at"),
        ({"event": "converted", "at": "2026-02-30T10:00:00Z"}, "at"),
        ({"event": "converted", "at": "0001-01-01T00:00:00+05:00"}, "at"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_records_nothing(
    api: Any, market: dict, body: dict, field: str
) -> None:
    body = {"lead_id": market["lead_id"], **body} if field != "lead_id" else body

    answer = report(api, market["buyer_key"], **body)

    assert answer.status_code == 422, answer.content
    assert list(answer.json()["error"]["fields"]) == [field]
    assert not Lead.objects.get(pk=market["lead_id"]).dispositions.exists()


def test_a_lead_id_that_is_not_one_is_told_apart_from_a_missing_one(api: Any, market: dict) -> None:
    missing = report(api, market["buyer_key"], event="converted").json()["error"]
    malformed = report(api, market["buyer_key"], lead_id="zzz", event="bad").json()["error"]

    assert missing["fields"] == {"lead_id": ["required: the id of a lead you bought"]}
    assert malformed["fields"] == {"lead_id": ["not a lead id: the id of a lead you bought"]}


def test_a_publisher_key_or_no_key_is_refused(api: Any, market: dict) -> None:
    by_publisher = report(api, market["publisher_key"], lead_id=market["lead_id"], event="bad")
    no_key = api.post("/api/v1/buyer/dispositions", {"lead_id": market["lead_id"]}, format="json")

    assert (by_publisher.status_code, no_key.status_code) == (401, 401)


# --- by signed postback --------------------------------------------------------------------


def test_a_signed_postback_records_the_disposition_and_a_replay_or_tampering_is_refused(
    api: Any, market: dict, staff: Any
) -> None:
    secret = secret_from_admin(staff, market["campaign"])
    params = signed(
        secret,
        lead_id=market["lead_id"],
        event="converted",
        value="80.50",
        ts=str(int(time.time())),
    )
    url = "/api/v1/postback/summit-tx"

    tampered = api.get(url, {**params, "value": "8050.00"})
    first = api.get(url, params)
    replayed = api.get(url, params)

    assert tampered.status_code == 401 and tampered.json()["error"]["code"] == "bad_signature"
    assert first.status_code == 201, first.content
    assert replayed.status_code == 409 and replayed.json()["error"]["code"] == "replayed"
    (disposition,) = Lead.objects.get(pk=market["lead_id"]).dispositions.all()
    assert (disposition.event, str(disposition.value), disposition.source) == (
        "converted",
        "80.50",
        "postback",
    )
    refresh_rollups()
    assert dashboard_row(staff, "publisher", "Acme / spring")[7] == "$80.50"


def test_a_postback_can_be_posted_as_a_form(api: Any, market: dict, staff: Any) -> None:
    secret = secret_from_admin(staff, market["campaign"])
    params = signed(
        secret, lead_id=market["lead_id"], event="contacted", ts=str(int(time.time())), nonce="a b"
    )

    answer = api.post(
        "/api/v1/postback/summit-tx",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
    )

    assert answer.status_code == 201, answer.content
    assert answer.json()["event"] == "contacted"


def test_an_old_or_unsigned_postback_is_refused(api: Any, market: dict, staff: Any) -> None:
    secret = secret_from_admin(staff, market["campaign"])
    old = signed(secret, lead_id=market["lead_id"], event="bad", ts=str(int(time.time()) - 3600))
    unsigned = {"lead_id": market["lead_id"], "event": "bad", "ts": str(int(time.time()))}

    stale = api.get("/api/v1/postback/summit-tx", old)
    missing = api.get("/api/v1/postback/summit-tx", unsigned)
    nowhere = api.get("/api/v1/postback/no-such-campaign", old)

    assert stale.status_code == 401 and stale.json()["error"]["code"] == "signature_expired"
    assert missing.status_code == 422 and list(missing.json()["error"]["fields"]) == ["sig"]
    assert nowhere.status_code == 404
    assert not Lead.objects.get(pk=market["lead_id"]).dispositions.exists()


@pytest.mark.usefixtures("one_rate_window")
def test_a_flood_of_bad_postbacks_is_rate_limited_before_any_query(
    api: Any, market: dict, staff: Any, settings: Any
) -> None:
    settings.POSTBACK_RATE_LIMIT = "5/m"
    cache.clear()  # counts from other tests' postbacks in this minute
    secret = secret_from_admin(staff, market["campaign"])
    forged = {"lead_id": market["lead_id"], "event": "converted", "ts": str(int(time.time()))}
    url = "/api/v1/postback/summit-tx"

    refused = [
        api.get(url, {**forged, "sig": f"{n:064x}"}, REMOTE_ADDR="203.0.113.9") for n in range(5)
    ]
    with CaptureQueriesContext(connection) as queries:
        limited = api.get(url, {**forged, "sig": "f" * 64}, REMOTE_ADDR="203.0.113.9")
    # The buyer's own CRM, calling from elsewhere, is not held up by the flood.
    genuine = api.get(url, signed(secret, **forged), REMOTE_ADDR="198.51.100.7")

    assert [r.json()["error"]["code"] for r in refused] == ["bad_signature"] * 5
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    # At most its inbound log row: no campaign, secret or signature looked up.
    assert all("inboundlog" in q["sql"] for q in queries.captured_queries), queries.captured_queries
    assert genuine.status_code == 201, genuine.content


def test_rotating_the_secret_refuses_postbacks_signed_with_the_old_one(
    api: Any, market: dict, staff: Any
) -> None:
    old_secret = secret_from_admin(staff, market["campaign"])
    staff.post(
        "/admin/buyers/campaign/",
        {"action": "rotate_postback_secret", "_selected_action": [market["campaign"].pk]},
    )
    new_secret = secret_from_admin(staff, market["campaign"])
    now = str(int(time.time()))

    old = api.get(
        "/api/v1/postback/summit-tx",
        signed(old_secret, lead_id=market["lead_id"], event="quoted", ts=now),
    )
    new = api.get(
        "/api/v1/postback/summit-tx",
        signed(new_secret, lead_id=market["lead_id"], event="quoted", ts=now),
    )

    assert new_secret != old_secret
    assert (old.status_code, new.status_code) == (401, 201)


def test_the_campaign_page_shows_its_postback_url(market: dict, staff: Any) -> None:
    page = staff.get(f"/admin/buyers/campaign/{market['campaign'].pk}/change/").content.decode()

    assert "/api/v1/postback/summit-tx?lead_id={lead_id}&amp;event={event}" in page


# --- forwarded to the publisher -------------------------------------------------------------


def test_a_disposition_is_forwarded_to_a_publisher_that_asked_signed_with_its_secret(
    api: Any, market: dict, hook: Hook
) -> None:
    report(api, market["buyer_key"], lead_id=market["lead_id"], event="converted", value="99.00")
    callback = PublisherCallback.objects.get(lead_id=market["lead_id"], disposition__isnull=False)

    assert send_publisher_callback(str(callback.pk)) == "accepted"

    request = hook.requests[-1]
    body = request.get_data()
    secret = market["publisher"].callback_secret
    assert request.headers["X-Switchyard-Signature"] == (
        "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    )
    payload = json.loads(body)
    assert payload["event"] == "lead.disposition"
    assert (payload["lead_id"], payload["disposition"], payload["value"]) == (
        market["lead_id"],
        "converted",
        "99.00",
    )
    assert "summit" not in body.decode().lower()  # the buyer stays anonymous


def test_a_publisher_that_did_not_ask_gets_no_disposition_callback(api: Any, market: dict) -> None:
    market["publisher"].forward_dispositions = False
    market["publisher"].save()

    report(api, market["buyer_key"], lead_id=market["lead_id"], event="converted")

    assert not PublisherCallback.objects.filter(disposition__isnull=False).exists()


def test_the_publisher_api_trace_does_not_show_buyers_dispositions(api: Any, market: dict) -> None:
    report(api, market["buyer_key"], lead_id=market["lead_id"], event="bad")

    detail = api.get(
        f"/api/v1/leads/{market['lead_id']}",
        HTTP_AUTHORIZATION=f"Bearer {market['publisher_key']}",
    ).json()

    assert "bad" not in json.dumps(detail["trace"])
    assert len(detail["trace"]) == 1  # the one campaign


def test_forwarding_dispositions_is_config_as_code(tmp_path: Any) -> None:
    path = tmp_path / "exchange.yaml"
    path.write_text(
        "publishers:\n"
        "  - {slug: beta, name: Beta, callback_url: 'http://127.0.0.1:9/hook',"
        " forward_dispositions: true}\n"
    )
    call_command("exchange_config", "import", str(path), stdout=StringIO())
    out = StringIO()
    call_command("exchange_config", "export", stdout=out)

    assert Publisher.objects.get(slug="beta").forward_dispositions is True
    assert "forward_dispositions: true" in out.getvalue()
