"""Lead-quality signals (disposable e-mail, velocity, line type and IP location) used as
campaign filters, through the API against real local buyer servers."""

from __future__ import annotations

import json
import re
from decimal import Decimal as D
from typing import Any

import pytest
from django.core.cache import cache
from werkzeug import Response

from leads.models import Lead
from tests.factories import POST_LEAD, direct_post, make_campaign, make_publisher, make_vertical
from tests.factories import ping as send_ping
from tests.factories import post as send_post

pytestmark = pytest.mark.django_db


class FakeLookup:
    """A local stand-in for a phone line-type and IP geolocation service."""

    LINE_TYPES = {"+12145550143": "voip", "+12145550178": "mobile"}
    PLACES = {"198.51.100.7": ("US", "CA"), "198.51.100.8": ("US", "TX")}

    def phone_line_type(self, phone: str) -> str | None:
        from plumbing.pii import normalize_phone

        return self.LINE_TYPES.get(normalize_phone(phone) or "")

    def ip_location(self, ip: str) -> tuple[str, str] | None:
        if ip == "198.51.100.99":
            raise ConnectionError("geolocation service down")
        return self.PLACES.get(ip)


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    # Velocity counts live in the shared cache, which outlives each test's database.
    cache.clear()


def accept(request: Any) -> Response:
    return Response(json.dumps({"status": "ok", "lead_id": "B-1"}), content_type="application/json")


def quality_buyer(buyer_server: Any, filters: list[dict[str, Any]]) -> str:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    buyer_server.expect_request("/careful/post").respond_with_handler(accept)
    make_campaign(
        vertical,
        "careful",
        post_url=buyer_server.url_for("/careful/post"),
        pricing_model="fixed",
        fixed_price="12.00",
        filters=filters,
    )
    return key


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        **POST_LEAD,
        "first_name": f"P{n}",
        "email": f"p{n}@example.com",
        "phone": f"(214) 555-{1000 + n:04d}",
        **extra,
    }


NO_DISPOSABLE = [{"field": "quality.disposable_email", "op": "eq", "value": False}]


def test_a_disposable_email_is_refused_by_a_campaign_that_filters_on_it(
    api: Any, buyer_server: Any
) -> None:
    key = quality_buyer(buyer_server, NO_DISPOSABLE)

    refused = direct_post(api, key, person(1, email="someone@mailinator.com")).json()
    sold = direct_post(api, key, person(2, email="someone@gmail.com")).json()

    assert refused["status"] == "rejected"
    assert refused["reasons"] == ["no_eligible_buyers"]
    assert sold["status"] == "sold"
    trace = Lead.objects.get(pk=refused["lead_id"]).trace
    reasons = [entry["reason"] for entry in trace]
    assert "filter: quality.disposable_email eq false: got true" in reasons
    assert "quality: disposable_email=true" in reasons


def test_a_sold_direct_post_traces_its_quality_signals_once(api: Any, buyer_server: Any) -> None:
    key = quality_buyer(buyer_server, NO_DISPOSABLE)

    sold = direct_post(api, key, person(4, email="someone@gmail.com")).json()
    trace = api.get(f"/api/v1/leads/{sold['lead_id']}", HTTP_AUTHORIZATION=f"Bearer {key}").json()

    assert sold["status"] == "sold"
    quality = [e["reason"] for e in trace["trace"] if e["reason"].startswith("quality:")]
    assert quality == ["quality: disposable_email=false"]


def test_the_lead_page_shows_the_quality_signals_as_a_check_and_an_unpinged_bid_as_such(
    api: Any, buyer_server: Any, admin_client: Any
) -> None:
    key = quality_buyer(buyer_server, NO_DISPOSABLE)
    sold = direct_post(api, key, person(5, email="someone@gmail.com")).json()

    page = admin_client.get(f"/admin/leads/lead/{sold['lead_id']}/change/").content.decode()

    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", page)
    assert ("", "", "check", "quality: disposable_email=false") in rows
    # The fixed-price campaign that bought it bid without a ping: not "skipped".
    assert ("Careful Buyer", "careful", "bid, not pinged", "fixed price, bids unpinged") in rows


def test_after_a_ping_the_disposable_email_is_caught_at_post(api: Any, buyer_server: Any) -> None:
    key = quality_buyer(buyer_server, NO_DISPOSABLE)
    offer = send_ping(api, key).json()
    assert offer["status"] == "accepted"  # the e-mail is not known at ping

    answer = send_post(api, key, offer["ping_id"], person(3, email="x@sub.mailinator.com")).json()

    assert answer["status"] == "rejected"
    assert buyer_server.log == []
    reasons = [e["reason"] for e in Lead.objects.get(pk=offer["ping_id"]).trace]
    assert "at post: filter: quality.disposable_email eq false: got true" in reasons


def test_a_velocity_burst_from_one_ip_is_refused_by_a_campaign_that_filters_on_it(
    api: Any, buyer_server: Any
) -> None:
    key = quality_buyer(buyer_server, [{"field": "quality.velocity_ip", "op": "lte", "value": 3}])

    burst = [
        direct_post(api, key, person(n, ip_address="203.0.113.9")).json()["status"]
        for n in range(5)
    ]
    elsewhere = direct_post(api, key, person(9, ip_address="203.0.113.10")).json()

    assert burst == ["sold", "sold", "sold", "rejected", "rejected"]
    assert elsewhere["status"] == "sold"
    last = Lead.objects.exclude(status="sold").order_by("-created_at").first()
    assert last is not None
    reasons = [e["reason"] for e in last.trace]
    assert "filter: quality.velocity_ip lte 3: got 5" in reasons


def test_velocity_counts_a_phone_across_verticals(api: Any, buyer_server: Any) -> None:
    key = quality_buyer(buyer_server, [{"field": "quality.velocity_phone", "op": "lt", "value": 2}])
    other = make_vertical("solar")
    make_campaign(other, "solar-buyer", pricing_model="fixed", fixed_price="3.00",
                  post_url=buyer_server.url_for("/careful/post"))  # fmt: skip
    first = api.post(
        "/api/v1/leads",
        {"vertical": "solar", "lead": person(1)},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert first.json()["status"] == "sold"

    second = direct_post(api, key, person(1)).json()

    assert (second["status"], second["reasons"]) == ("rejected", ["no_eligible_buyers"])
    reasons = [e["reason"] for e in Lead.objects.get(pk=second["lead_id"]).trace]
    assert "filter: quality.velocity_phone lt 2: got 2" in reasons


@pytest.fixture
def fake_lookup(settings: Any) -> None:
    settings.SWITCHYARD = {
        **settings.SWITCHYARD,
        "QUALITY_LOOKUP": "tests.leads.test_quality_signals.FakeLookup",
    }


def test_line_type_and_ip_location_come_from_the_configured_lookup(
    api: Any, buyer_server: Any, fake_lookup: None
) -> None:
    key = quality_buyer(
        buyer_server,
        [
            {"field": "quality.phone_line_type", "op": "ne", "value": "voip"},
            {"field": "quality.ip_matches_state", "op": "eq", "value": True},
        ],
    )
    lead = {"state": "TX", "zip": "75001"}

    voip = direct_post(api, key, person(1, phone="(214) 555-0143", ip_address="198.51.100.8"))
    far = direct_post(api, key, person(2, phone="(214) 555-0178", ip_address="198.51.100.7"))
    good = direct_post(
        api, key, person(3, phone="(214) 555-0178", ip_address="198.51.100.8", **lead)
    )
    down = direct_post(api, key, person(4, phone="(214) 555-0190", ip_address="198.51.100.99"))

    assert [r.json()["status"] for r in (voip, far, good, down)] == [
        "rejected", "rejected", "sold", "rejected",
    ]  # fmt: skip
    reasons = [e["reason"] for e in Lead.objects.get(pk=far.json()["lead_id"]).trace]
    assert "quality: ip_matches_state=false, phone_line_type=mobile" in reasons
    reasons = [e["reason"] for e in Lead.objects.get(pk=down.json()["lead_id"]).trace]
    assert "filter: quality.ip_matches_state missing" in reasons
