"""Fallback (remnant) campaigns, price modifiers and outbound throttles, through the API
against real local buyer servers."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from werkzeug import Response

from buyers import throttle
from buyers.models import Campaign
from leads.models import Bid, Lead, LedgerEntry
from tests.factories import POST_LEAD, direct_post, make_campaign, make_publisher, make_vertical
from tests.factories import ping as send_ping
from tests.factories import post as send_post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    # Throttle slots live in the shared cache, which outlives each test's database.
    cache.clear()
    throttle.forget()


def bid(price: str) -> Any:
    def handler(request: Any) -> Response:
        body = {"result": "accepted", "bid": price, "bid_id": f"ref-{price}"}
        return Response(json.dumps(body), content_type="application/json")

    return handler


def accept(request: Any) -> Response:
    return Response(json.dumps({"status": "ok", "lead_id": "B-1"}), content_type="application/json")


def hits(server: Any, path: str) -> int:
    return sum(1 for request, _ in server.log if request.path == path)


@pytest.fixture
def remnant(buyer_server: Any) -> dict[str, Any]:
    """A regular buyer bidding under the publisher's floor, and a fallback buyer."""
    vertical = make_vertical()
    _, key = make_publisher(floor=D("5.00"))  # 80% payout
    url = buyer_server.url_for
    buyer_server.expect_request("/cheap/ping").respond_with_handler(bid("4.00"))
    buyer_server.expect_request("/cheap/post").respond_with_handler(accept)
    buyer_server.expect_request("/remnant/post").respond_with_handler(accept)
    make_campaign(vertical, "cheap", ping_url=url("/cheap/ping"), post_url=url("/cheap/post"))
    make_campaign(
        vertical,
        "remnant",
        post_url=url("/remnant/post"),
        pricing_model="fixed",
        fixed_price="7.00",
        fallback=True,
    )
    return {"key": key, "vertical": vertical, "server": buyer_server}


def test_a_lead_no_regular_bid_clears_is_sold_to_the_fallback_at_its_price(
    api: Any, remnant: dict
) -> None:
    answer = direct_post(api, remnant["key"])

    assert answer.json()["status"] == "sold"
    assert answer.json()["price"] == "5.60"  # 80% of the fallback's 7.00
    assert hits(remnant["server"], "/remnant/post") == 1
    assert hits(remnant["server"], "/cheap/post") == 0
    sale = LedgerEntry.objects.get(kind="sale")
    assert (sale.charge, sale.remnant, sale.campaign.slug) == (D("7.0000"), True, "remnant")


def test_a_pinged_lead_is_offered_the_fallback_price_and_sold_there(
    api: Any, remnant: dict
) -> None:
    offer = send_ping(api, remnant["key"]).json()
    assert (offer["status"], offer["price"]) == ("accepted", "5.60")

    answer = send_post(api, remnant["key"], offer["ping_id"])

    assert answer.json() == {"lead_id": offer["ping_id"], "status": "sold", "price": "5.60"}
    assert LedgerEntry.objects.get(kind="sale").remnant is True


def test_the_fallback_is_not_offered_a_lead_a_regular_bid_clears(api: Any, remnant: dict) -> None:
    server = remnant["server"]
    server.expect_request("/rich/ping").respond_with_handler(bid("6.50"))
    server.expect_request("/rich/post").respond_with_handler(accept)
    url = server.url_for
    make_campaign(
        remnant["vertical"], "rich", ping_url=url("/rich/ping"), post_url=url("/rich/post")
    )

    answer = direct_post(api, remnant["key"])

    assert answer.json()["price"] == "5.20"  # 80% of 6.50, though the fallback pays 7.00
    assert hits(server, "/rich/post") == 1
    assert hits(server, "/remnant/post") == 0
    assert LedgerEntry.objects.get(kind="sale").remnant is False
    fallback_bid = Bid.objects.get(campaign__slug="remnant")
    assert fallback_bid.rank is None
    assert fallback_bid.reason == "fallback: a regular bid cleared the floor"


def test_a_fallback_campaign_costs_its_buyer_no_ping(api: Any, buyer_server: Any) -> None:
    # A fallback with a ping endpoint is offered at its fixed price, only when no regular
    # bid clears: it is never pinged, whether a regular bid clears or not.
    vertical = make_vertical()
    _, key = make_publisher(floor=D("5.00"))
    url = buyer_server.url_for
    for path in ("/rich/post", "/remnant/post"):
        buyer_server.expect_request(path).respond_with_handler(accept)
    buyer_server.expect_request("/remnant/ping").respond_with_handler(bid("7.00"))
    rich_price = {"bid": "9.00"}
    buyer_server.expect_request("/rich/ping").respond_with_handler(
        lambda request: bid(rich_price["bid"])(request)
    )
    make_campaign(vertical, "rich", ping_url=url("/rich/ping"), post_url=url("/rich/post"))
    make_campaign(
        vertical,
        "remnant",
        ping_url=url("/remnant/ping"),
        post_url=url("/remnant/post"),
        pricing_model="fixed",
        fixed_price="7.00",
        fallback=True,
        throttle={"pings": 1, "per": "1h"},
    )

    cleared = send_ping(api, key).json()
    rich_price["bid"] = "4.00"  # under the floor from now on
    remnant_offer = send_ping(api, key).json()
    sold = send_post(api, key, remnant_offer["ping_id"]).json()
    throttled = send_ping(api, key).json()

    assert (cleared["status"], cleared["price"]) == ("accepted", "7.20")
    assert (remnant_offer["status"], remnant_offer["price"]) == ("accepted", "5.60")
    assert sold["status"] == "sold"
    assert hits(buyer_server, "/remnant/ping") == 0
    assert hits(buyer_server, "/remnant/post") == 1
    # Its throttle counts the leads it was offered: the one above, not the first.
    assert throttled["status"] == "rejected"
    entry = next(
        t for t in Lead.objects.get(pk=throttled["ping_id"]).trace if t.get("campaign") == "remnant"
    )
    assert (entry["reason"], entry["throttle"]) == ("throttled", "1 pings per 1h")


def test_remnant_sales_are_marked_in_the_statement_and_the_dashboard(
    api: Any, remnant: dict, client: Any
) -> None:
    direct_post(api, remnant["key"])
    remnant["server"].expect_request("/rich/ping").respond_with_handler(bid("30.00"))
    remnant["server"].expect_request("/rich/post").respond_with_handler(accept)
    url = remnant["server"].url_for
    rich = make_campaign(
        remnant["vertical"], "rich", ping_url=url("/rich/ping"), post_url=url("/rich/post")
    )
    rich.buyer = Campaign.objects.get(slug="remnant").buyer
    rich.save()
    direct_post(api, remnant["key"], {**POST_LEAD, "phone": "(214) 555-0178", "email": "b@x.com"})
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-12345")
    client.force_login(user)
    today = timezone.localdate()

    page = client.get(
        "/reports/statements/buyer/remnant-buyer/", {"from": str(today), "to": str(today)}
    ).content.decode()
    call_command(
        "rebuild_rollups", "--from", str(today - timedelta(days=1)), "--to", str(today),
        stdout=io.StringIO(),
    )  # fmt: skip
    dashboard = client.get("/reports/").content.decode()

    export = client.get(
        "/reports/statements/buyer/remnant-buyer/",
        {"from": str(today), "to": str(today), "format": "csv"},
    )
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))

    figures = dict(re.findall(r'data-field="(\w+)">([^<]*)<', page))
    assert figures["leads_sold"] == "2"
    assert figures["remnant"].startswith("7.00")
    assert "of which remnant (1 sold to fallback campaigns)" in page
    assert page.count("Sale (remnant)") == 1
    assert rows[0][-1] == "remnant"
    assert [(r[2], r[3], r[4]) for r in rows[1:-1]] == [
        ("sale", "7.00", "yes"),
        ("sale", "30.00", ""),
    ]
    assert re.search(r'data-figure="remnant_sold">1<', dashboard)
    ledger = client.get("/admin/leads/ledgerentry/", {"remnant__exact": "1"})
    assert ledger.context["cl"].result_count == 1


def test_a_fallback_campaign_must_buy_at_a_fixed_price() -> None:
    vertical = make_vertical()
    campaign = make_campaign(vertical, "dyn", fallback=True)

    with pytest.raises(Exception, match="fixed price"):
        campaign.full_clean()


# --- price modifiers ---------------------------------------------------------------------


@pytest.fixture
def fixed_buyer(buyer_server: Any) -> dict[str, Any]:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    buyer_server.expect_request("/fixed/post").respond_with_handler(accept)
    modifiers = [
        {"when": {"field": "state", "op": "in", "value": ["CA", "NY"]}, "add": "2.00"},
        {"when": {"field": "credit_tier", "op": "eq", "value": "excellent"}, "multiply": "1.5"},
        {"when": {"field": "first_name", "op": "eq", "value": "Ann"}, "add": "100.00"},
    ]
    make_campaign(
        vertical,
        "fixed",
        post_url=buyer_server.url_for("/fixed/post"),
        pricing_model="fixed",
        fixed_price="10.00",
        price_modifiers=modifiers,
    )
    return {"key": key, "server": buyer_server}


@pytest.mark.parametrize(
    ("lead", "charge"),
    [
        ({"zip": "75001", "state": "TX", "credit_tier": "good"}, "10.00"),
        ({"zip": "90001", "state": "CA", "credit_tier": "good"}, "12.00"),
        ({"zip": "10001", "state": "NY", "credit_tier": "excellent"}, "18.00"),
        ({"zip": "75001", "state": "TX", "credit_tier": "excellent"}, "15.00"),
    ],
)
def test_modifiers_move_a_fixed_price_by_the_leads_attributes(
    api: Any, fixed_buyer: dict, lead: dict, charge: str
) -> None:
    offer = send_ping(api, fixed_buyer["key"], lead).json()
    answer = send_post(api, fixed_buyer["key"], offer["ping_id"], {**POST_LEAD, **lead})

    # A ping does not carry first_name: the third modifier is not applied to the offer.
    assert offer["price"] == str((D(charge) * D("0.8")).quantize(D("0.01")))
    assert answer.json()["status"] == "sold"
    assert LedgerEntry.objects.get(kind="sale").charge == D(charge)


def test_a_direct_post_prices_on_every_field_it_carries(api: Any, fixed_buyer: dict) -> None:
    answer = direct_post(api, fixed_buyer["key"])  # first_name Ann, TX, good

    assert answer.json()["price"] == "88.00"  # (10.00 + 100.00) * 80%
    bid_row = Bid.objects.get()
    assert bid_row.reason.startswith("fixed 10.00, modified: first_name eq Ann: +100.00")


# --- throttles ---------------------------------------------------------------------------


def test_a_throttled_campaign_is_skipped_with_throttled_in_the_trace(
    api: Any, buyer_server: Any
) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    url = buyer_server.url_for
    buyer_server.expect_request("/slow-buyer/ping").respond_with_handler(bid("9.00"))
    buyer_server.expect_request("/slow-buyer/post").respond_with_handler(accept)
    make_campaign(
        vertical,
        "slow-buyer",
        ping_url=url("/slow-buyer/ping"),
        post_url=url("/slow-buyer/post"),
        throttle={"pings": 2, "per": "1h"},
    )

    answers = [send_ping(api, key).json() for _ in range(4)]

    assert [a["status"] for a in answers] == ["accepted", "accepted", "rejected", "rejected"]
    assert answers[3]["reasons"] == ["no_eligible_buyers"]
    assert hits(buyer_server, "/slow-buyer/ping") == 2
    trace = Lead.objects.get(pk=answers[3]["ping_id"]).trace
    assert trace == [
        {
            "campaign_id": Campaign.objects.get().pk,
            "campaign": "slow-buyer",
            "buyer": "Slow-Buyer Buyer",
            "pinged": False,
            "reason": "throttled",
            "throttle": "2 pings per 1h",
        }
    ]


def test_a_changed_throttle_starts_afresh(api: Any, buyer_server: Any) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    buyer_server.expect_request("/t/ping").respond_with_handler(bid("9.00"))
    campaign = make_campaign(
        vertical,
        "t",
        ping_url=buyer_server.url_for("/t/ping"),
        post_url=buyer_server.url_for("/t/post"),
        throttle={"pings": 1, "per": "1m"},
    )
    assert send_ping(api, key).json()["status"] == "accepted"
    assert send_ping(api, key).json()["status"] == "rejected"

    campaign.throttle = {"pings": 3, "per": "1m"}
    campaign.save()

    assert send_ping(api, key).json()["status"] == "accepted"
