"""Compliance in the lead flow, through the public API: per-buyer duplicate windows per
campaign, consent requirements and the certificate verifier, one-to-one consent, ZIP
data (zip/state agreement, zip_radius) and filters on post-stage fields checked at post."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.utils import timezone
from werkzeug import Request, Response

from buyers.models import Buyer
from exchange.models import Vertical
from leads.models import Delivery, Lead, PersonClaim
from tests.factories import (
    PING_LEAD,
    POST_LEAD,
    direct_post,
    make_campaign,
    make_publisher,
    make_vertical,
    ping,
    post,
)

pytestmark = pytest.mark.django_db

CERT = "https://cert.trustedform.com/" + "a1" * 20
LEADID = "0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D"


def accept(request: Request) -> Response:
    return Response(json.dumps({"status": "ok", "lead_id": "B-1"}), content_type="application/json")


def posted_to(server: Any) -> list[str]:
    return [r.path for r, _ in server.log if r.path.endswith("/post")]


def reasons_in_trace(lead_id: str) -> dict[str, str]:
    return {t.get("campaign", ""): t["reason"] for t in Lead.objects.get(pk=lead_id).trace}


def fixed(vertical: Vertical, server: Any, slug: str, price: str, **fields: Any) -> Any:
    server.expect_request(f"/{slug}/post").respond_with_handler(accept)
    return make_campaign(
        vertical, slug, post_url=server.url_for(f"/{slug}/post"),
        pricing_model="fixed", fixed_price=price, **fields,
    )  # fmt: skip


@pytest.fixture
def key() -> str:
    return make_publisher(floor=D("1.00"))[1]


# --- per-buyer windows, per campaign -------------------------------------------------------


def test_each_campaign_of_a_buyer_keeps_its_own_duplicate_window(
    api: Any, key: str, buyer_server: Any
) -> None:
    auto, solar = make_vertical(), make_vertical("solar")
    summit = Buyer.objects.create(slug="summit", name="Summit")
    fixed(auto, buyer_server, "auto", "25.00", buyer=summit)
    fixed(solar, buyer_server, "long", "30.00", buyer=summit, dedupe_days=30)
    fixed(solar, buyer_server, "short", "20.00", buyer=summit, dedupe_days=3)
    assert direct_post(api, key).json()["status"] == "sold"  # auto: Summit buys the person
    # Five days on.
    PersonClaim.objects.update(sold_at=timezone.now() - timedelta(days=5))

    answer = api.post(
        "/api/v1/leads", {"vertical": "solar", "lead": POST_LEAD}, format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()  # fmt: skip

    assert answer["status"] == "sold"
    lead = Lead.objects.get(pk=answer["lead_id"])
    assert lead.sold_campaign.slug == "short"  # 3 days have passed; 30 have not
    assert (
        reasons_in_trace(answer["lead_id"])["long"] == "duplicate for this buyer (within 30 days)"
    )
    assert posted_to(buyer_server) == ["/auto/post", "/short/post"]


def test_a_post_after_a_ping_skips_the_campaign_whose_buyer_bought_the_person_in_its_window(
    api: Any, key: str, buyer_server: Any
) -> None:
    auto, solar = make_vertical(), make_vertical("solar")
    summit = Buyer.objects.create(slug="summit", name="Summit")
    fixed(auto, buyer_server, "auto", "25.00", buyer=summit)
    fixed(solar, buyer_server, "long", "30.00", buyer=summit, dedupe_days=30)
    fixed(solar, buyer_server, "other", "10.00")
    assert direct_post(api, key).json()["status"] == "sold"
    ping_id = api.post(
        "/api/v1/ping", {"vertical": "solar", "lead": PING_LEAD}, format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()["ping_id"]  # fmt: skip

    answer = post(api, key, ping_id).json()

    assert answer["status"] == "sold" and Lead.objects.get(pk=ping_id).sold_campaign.slug == "other"
    delivery = Delivery.objects.get(lead_id=ping_id, campaign__slug="long")
    assert (delivery.status, delivery.reason) == (
        "skipped",
        "at post: duplicate for this buyer (within 30 days)",
    )


def test_a_person_given_back_by_an_unsold_lead_can_be_sold_by_the_next(
    api: Any, key: str, buyer_server: Any
) -> None:
    vertical = make_vertical()
    buyer_server.expect_request("/no/post").respond_with_json({"status": "no", "error": "full"})
    make_campaign(
        vertical, "no", post_url=buyer_server.url_for("/no/post"),
        pricing_model="fixed", fixed_price="9.00",
    )  # fmt: skip
    first = direct_post(api, key).json()
    assert first["reasons"] == ["all_buyers_rejected"]
    assert not PersonClaim.objects.exists()  # released
    fixed(vertical, buyer_server, "yes", "5.00")

    assert direct_post(api, key).json()["status"] == "sold"
    assert direct_post(api, key).json()["reasons"] == ["duplicate"]


# --- consent -----------------------------------------------------------------------------


def test_a_campaign_requiring_tcpa_consent_gets_only_leads_that_give_it(
    api: Any, key: str, buyer_server: Any
) -> None:
    vertical = make_vertical()
    fixed(vertical, buyer_server, "strict", "30.00", require_tcpa_consent=True)
    fixed(vertical, buyer_server, "easy", "10.00")

    without = direct_post(api, key).json()
    assert Lead.objects.get(pk=without["lead_id"]).sold_campaign.slug == "easy"
    assert reasons_in_trace(without["lead_id"])["strict"] == "requires tcpa_consent"

    PersonClaim.objects.all().delete()
    with_consent = direct_post(api, key, {**POST_LEAD, "tcpa_consent": "yes"}).json()
    assert Lead.objects.get(pk=with_consent["lead_id"]).sold_campaign.slug == "strict"


def test_a_malformed_certificate_is_refused_at_ping_and_a_bad_consent_field_gets_a_422(
    api: Any, key: str, buyer_server: Any
) -> None:
    vertical = make_vertical()
    fixed(vertical, buyer_server, "tf", "30.00", require_trustedform=True)
    fixed(vertical, buyer_server, "plain", "10.00")

    answer = ping(api, key, {**PING_LEAD, "trustedform_cert_url": "https://example.com/cert/1"})
    assert reasons_in_trace(answer.json()["ping_id"])["tf"] == "TrustedForm certificate malformed"

    bad = ping(api, key, {**PING_LEAD, "trustedform_cert_url": "ftp://x"})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"] == {
        "lead.trustedform_cert_url": ["must be an http(s) URL"]
    }


@pytest.fixture
def verifier(buyer_server: Any, settings: Any) -> Any:
    """The HTTP verifier, asking a local fake verification service."""
    settings.SWITCHYARD = {
        **settings.SWITCHYARD,
        "CONSENT_VERIFIER": "exchange.consent.HttpVerifier",
        "CONSENT_VERIFIER_URL": buyer_server.url_for("/verify"),
    }
    return buyer_server


def certificate_service(valid: set[str]) -> Any:
    def handler(request: Request) -> Response:
        body = json.loads(request.get_data(as_text=True))
        ok = body["value"] in valid
        return Response(
            json.dumps({"valid": ok, "reason": "" if ok else "certificate expired"}),
            content_type="application/json",
        )

    return handler


def test_certificates_pass_the_verifier_at_post_with_the_outcome_on_the_trace(
    api: Any, key: str, verifier: Any
) -> None:
    verifier.expect_request("/verify").respond_with_handler(certificate_service({CERT}))
    vertical = make_vertical()
    fixed(vertical, verifier, "tf", "30.00", require_trustedform=True)
    fixed(vertical, verifier, "jornaya", "20.00", require_jornaya=True)
    fixed(vertical, verifier, "plain", "10.00")
    lead = {**PING_LEAD, "trustedform_cert_url": CERT, "jornaya_leadid": LEADID}
    ping_id = ping(api, key, lead).json()["ping_id"]

    answer = post(api, key, ping_id, {**POST_LEAD, **lead}).json()

    assert answer["status"] == "sold" and Lead.objects.get(pk=ping_id).sold_campaign.slug == "tf"
    trace = Lead.objects.get(pk=ping_id).trace
    checks = {t["check"]: (t["verified"], t["reason"]) for t in trace if "check" in t}
    assert checks == {
        "TrustedForm certificate": (True, "TrustedForm certificate verified (verified)"),
        "Jornaya LeadiD": (False, "Jornaya LeadiD not verified (certificate expired)"),
    }
    verified = [
        json.loads(r.get_data(as_text=True)) for r, _ in verifier.log if r.path == "/verify"
    ]
    assert sorted(v["kind"] for v in verified) == ["jornaya", "trustedform"]  # once each


def test_a_certificate_the_verifier_refuses_skips_the_campaign_before_it_gets_the_lead(
    api: Any, key: str, verifier: Any
) -> None:
    verifier.expect_request("/verify").respond_with_handler(certificate_service(set()))
    vertical = make_vertical()
    fixed(vertical, verifier, "tf", "30.00", require_trustedform=True)
    fixed(vertical, verifier, "plain", "10.00")

    answer = direct_post(api, key, {**POST_LEAD, "trustedform_cert_url": CERT}).json()

    assert Lead.objects.get(pk=answer["lead_id"]).sold_campaign.slug == "plain"
    assert reasons_in_trace(answer["lead_id"])["tf"] == (
        "at post: TrustedForm certificate not verified: certificate expired"
    )
    assert posted_to(verifier) == ["/plain/post"]


def test_an_unreachable_verifier_fails_closed(api: Any, key: str, verifier: Any) -> None:
    verifier.expect_request("/verify").respond_with_data("down", status=503)
    vertical = make_vertical()
    fixed(vertical, verifier, "tf", "30.00", require_trustedform=True)

    answer = direct_post(api, key, {**POST_LEAD, "trustedform_cert_url": CERT}).json()

    assert answer["status"] == "rejected" and answer["reasons"] == ["no_eligible_buyers"]
    assert "verifier answered HTTP 503" in reasons_in_trace(answer["lead_id"])["tf"]
    assert posted_to(verifier) == []


def test_one_to_one_consent_lets_only_the_named_sellers_buy(
    api: Any, key: str, buyer_server: Any
) -> None:
    vertical = make_vertical()
    fixed(vertical, buyer_server, "rich", "50.00")
    named = fixed(vertical, buyer_server, "named", "10.00")
    named.buyer.name = "Summit Insurance"
    named.buyer.save()

    answer = direct_post(api, key, {**POST_LEAD, "consent_sellers": ["summit insurance"]}).json()

    assert Lead.objects.get(pk=answer["lead_id"]).sold_campaign.slug == "named"
    assert "consent_sellers" in reasons_in_trace(answer["lead_id"])["rich"]
    assert posted_to(buyer_server) == ["/named/post"]
    bad = direct_post(api, key, {**POST_LEAD, "consent_sellers": [1, 2]})
    assert bad.status_code == 422 and "lead.consent_sellers" in bad.json()["error"]["fields"]


# --- ZIP data and post-stage filters ------------------------------------------------------


def test_a_zip_in_another_state_gets_a_422_naming_the_state(api: Any, key: str) -> None:
    make_vertical()

    answer = ping(api, key, {**PING_LEAD, "zip": "90210", "state": "TX"})

    assert answer.status_code == 422
    assert answer.json()["error"] == {
        "code": "invalid_lead",
        "message": "Some lead fields are invalid.",
        "fields": {"lead.state": ["does not match ZIP 90210, which is in CA"]},
    }


def test_zip_radius_lets_only_nearby_leads_reach_the_campaign(
    api: Any, key: str, buyer_server: Any
) -> None:
    vertical = make_vertical()
    radius = [{"field": "zip", "op": "zip_radius", "value": ["75001", 25]}]
    fixed(vertical, buyer_server, "dallas", "30.00", filters=radius)
    fixed(vertical, buyer_server, "anywhere", "10.00")

    near = ping(api, key, {**PING_LEAD, "zip": "75201"}).json()
    far = ping(api, key, {**PING_LEAD, "zip": "77002"}).json()  # Houston

    assert near["price"] == "24.00" and far["price"] == "8.00"
    assert reasons_in_trace(far["ping_id"])["dallas"] == (
        'filter: zip within 25 miles of 75001: got "77002"'
    )


def test_filters_on_post_stage_fields_wait_for_the_post_and_skip_the_campaign_there(
    api: Any, key: str, buyer_server: Any
) -> None:
    vertical = make_vertical()
    adults = [
        {"op": "age_between", "value": [25, 60]},
        {"field": "email", "op": "contains", "value": "@example.com"},
    ]
    fixed(vertical, buyer_server, "picky", "30.00", filters=adults)
    fixed(vertical, buyer_server, "plain", "10.00")

    offer = ping(api, key).json()
    assert offer["price"] == "24.00"  # picky bid: dob and email are not known at ping
    answer = post(api, key, offer["ping_id"], {**POST_LEAD, "dob": "2010-05-01"}).json()

    assert answer["status"] == "sold"
    assert Lead.objects.get(pk=offer["ping_id"]).sold_campaign.slug == "plain"
    assert reasons_in_trace(offer["ping_id"])["picky"].startswith(
        "at post: filter: age_between [25, 60]: got age "
    )
    assert posted_to(buyer_server) == ["/plain/post"]


def test_a_post_that_matches_the_deferred_filters_goes_to_their_campaign(
    api: Any, key: str, buyer_server: Any
) -> None:
    vertical = make_vertical()
    adults = [{"op": "age_between", "value": [25, 60]}]
    fixed(vertical, buyer_server, "picky", "30.00", filters=adults)

    offer = ping(api, key).json()
    answer = post(api, key, offer["ping_id"], {**POST_LEAD, "dob": "1980-05-01"}).json()

    assert answer["status"] == "sold" and posted_to(buyer_server) == ["/picky/post"]
