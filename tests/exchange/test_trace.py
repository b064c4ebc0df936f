"""The per-lead trace: why each campaign was or was not pinged, in the admin and,
without buyer names, in the publisher API."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from werkzeug import Response

from buyers.models import Campaign
from leads.models import Lead
from tests.factories import make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

LEAD = {"zip": "90210", "state": "CA", "credit_tier": "good"}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def accept(request: Any) -> Response:
    body = {"result": "accepted", "bid": "11.00", "bid_id": "W-1"}
    return Response(json.dumps(body), content_type="application/json")


@pytest.fixture
def pinged(api: Any, buyer_server: Any) -> tuple[Lead, str]:
    """A Californian lead pinged to one campaign that takes it and six that do not."""
    buyer_server.expect_request("/ping").respond_with_handler(accept)
    vertical = make_vertical()
    _, key = make_publisher("acme")
    ping_url, post_url = buyer_server.url_for("/ping"), buyer_server.url_for("/post")

    def campaign(slug: str, **fields: Any) -> Campaign:
        return make_campaign(vertical, slug, ping_url=ping_url, post_url=post_url, **fields)

    campaign("texas-only", filters=[{"field": "state", "op": "in", "value": ["TX", "OK"]}])
    campaign("prime-only", filters=[{"field": "credit_tier", "op": "eq", "value": "excellent"}])
    campaign(
        "dallas-or-okies",
        filters=[
            {
                "any": [
                    {"field": "zip", "op": "starts_with", "value": "75"},
                    {"field": "state", "op": "eq", "value": "OK"},
                ]
            }
        ],
    )
    campaign("not-acme", filters=[{"field": "publisher", "op": "not_in", "value": ["acme"]}])
    campaign("own-subs", filters=[{"field": "sub_id", "op": "in", "value": ["s-1", "s-2"]}])
    tomorrow = DAYS[(timezone.now().weekday() + 1) % 7]  # buyers default to UTC
    campaign("tomorrow-only", schedule={tomorrow: "00:00-24:00"})
    campaign("taker")

    body = {"vertical": "auto-insurance", "sub_id": "s-9", "lead": LEAD}
    answer = api.post("/api/v1/ping", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.json()["status"] == "accepted"
    return Lead.objects.get(pk=answer.json()["ping_id"]), key


FILTER_REASONS = {
    "texas-only": 'filter: state in [TX, OK]: got "CA"',
    "prime-only": 'filter: credit_tier eq excellent: got "good"',
    "dallas-or-okies": 'filter: any of 2 rules failed: zip starts_with 75: got "90210"; '
    'state eq OK: got "CA"',
    "not-acme": 'filter: publisher not_in [acme]: got "acme"',
    "own-subs": 'filter: sub_id in [s-1, s-2]: got "s-9"',
}


def test_the_trace_names_the_failing_filter_and_value_for_every_skipped_campaign(
    pinged: tuple[Lead, str],
) -> None:
    lead, _ = pinged

    trace = {t["campaign"]: t for t in lead.trace}

    assert {slug: trace[slug]["reason"] for slug in FILTER_REASONS} == FILTER_REASONS
    assert not any(trace[slug]["pinged"] for slug in FILTER_REASONS)
    assert trace["tomorrow-only"]["reason"].startswith("closed: ")
    assert trace["taker"]["pinged"] is True
    assert len(trace) == 7


def test_the_admin_lead_page_shows_each_campaign_and_why(
    pinged: tuple[Lead, str], admin_client: Any
) -> None:
    lead, _ = pinged

    page = admin_client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()

    for slug, reason in FILTER_REASONS.items():
        buyer = Campaign.objects.get(slug=slug).buyer.name
        why = html.escape(reason)
        assert f"<tr><td>{buyer}</td><td>{slug}</td><td>skipped</td><td>{why}</td></tr>" in page
    assert "<td>taker</td><td>pinged</td>" in page


def test_the_publisher_sees_the_reasons_without_buyer_names(
    pinged: tuple[Lead, str], api: Any
) -> None:
    lead, key = pinged

    answer = api.get(f"/api/v1/leads/{lead.pk}", HTTP_AUTHORIZATION=f"Bearer {key}")

    skipped = sorted(t["reason"] for t in answer.json()["trace"] if not t["pinged"])
    assert [r for r in skipped if not r.startswith("closed: ")] == sorted(FILTER_REASONS.values())
    assert sum(r.startswith("closed: ") for r in skipped) == 1
    text = json.dumps(answer.json())
    for campaign in Campaign.objects.select_related("buyer"):
        assert campaign.slug not in text
        assert campaign.buyer.name not in text


def test_a_paused_campaign_is_traced_with_its_pause(api: Any, buyer_server: Any) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    make_campaign(
        vertical,
        "resting",
        ping_url=buyer_server.url_for("/p"),
        post_url=buyer_server.url_for("/q"),
    )
    Campaign.objects.filter(slug="resting").update(
        paused_reason="timeouts 40% > 20%", paused_at=timezone.now() - timedelta(minutes=5)
    )
    from exchange.config_cache import mark_config_changed

    mark_config_changed()

    body = {"vertical": "auto-insurance", "lead": LEAD}
    answer = api.post("/api/v1/ping", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")

    lead = Lead.objects.get(pk=answer.json()["ping_id"])
    assert lead.trace == [
        {
            "campaign_id": Campaign.objects.get(slug="resting").pk,
            "campaign": "resting",
            "buyer": "Resting Buyer",
            "pinged": False,
            "reason": "paused: timeouts 40% > 20%",
        }
    ]
    assert answer.json()["reasons"] == ["no_eligible_buyers"]


def test_a_fixed_price_campaign_without_a_ping_endpoint_bids_and_says_why_unpinged(
    api: Any, buyer_server: Any
) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    make_campaign(
        vertical,
        "flat",
        post_url=buyer_server.url_for("/q"),
        pricing_model="fixed",
        fixed_price="5.00",
    )

    body = {"vertical": "auto-insurance", "lead": LEAD}
    answer = api.post("/api/v1/ping", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert answer.json()["status"] == "accepted"
    lead = Lead.objects.get(pk=answer.json()["ping_id"])
    assert [(t["campaign"], t["pinged"], t["reason"]) for t in lead.trace] == [
        ("flat", False, "fixed price, bids unpinged")
    ]
    assert not buyer_server.log  # no HTTP call for its bid
