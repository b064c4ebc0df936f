"""Bid limits (SPEC §4): a bid that is not a positive amount with at most 2 decimals, or
is above the campaign's max_bid, is a bad_response that never reaches a row; the next
bid wins; and a lead row holding an out-of-range amount still reads everywhere."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection
from werkzeug import Response

from leads.models import Bid, Lead
from tests.factories import make_campaign, make_publisher, make_vertical, ping, post

pytestmark = pytest.mark.django_db


def answer(raw_bid: str) -> Any:
    """A buyer answering with ``raw_bid`` written into the JSON as is (a number)."""

    def handler(request: Any) -> Response:
        body = f'{{"result": "accepted", "bid": {raw_bid}, "bid_id": "X"}}'
        return Response(body, content_type="application/json")

    return handler


def accept_post(request: Any) -> Response:
    return Response('{"status": "ok", "lead_id": "B-1"}', content_type="application/json")


def market(server: Any, wild_bid: str, **wild: Any) -> str:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    for name, raw, fields in (("wild", wild_bid, wild), ("sane", "7.50", {})):
        server.expect_request(f"/{name}/ping").respond_with_handler(answer(raw))
        server.expect_request(f"/{name}/post").respond_with_handler(accept_post)
        make_campaign(
            vertical,
            name,
            ping_url=server.url_for(f"/{name}/ping"),
            post_url=server.url_for(f"/{name}/post"),
            **fields,
        )
    return key


@pytest.mark.parametrize(
    ("wild_bid", "why"),
    [
        ("100000000", "above the campaign's max_bid 10000.00"),
        ("1e9", "above the campaign's max_bid 10000.00"),
        ("12.345", "more than 2 decimals"),
        ("0", "not a positive amount"),
    ],
)
def test_an_out_of_range_bid_is_a_bad_response_and_the_next_bid_wins(
    api: Any, buyer_server: Any, admin_client: Any, wild_bid: str, why: str
) -> None:
    key = market(buyer_server, wild_bid)

    pinged = ping(api, key)
    assert pinged.status_code == 200, pinged.content
    assert pinged.json()["status"] == "accepted"
    assert pinged.json()["price"] == "6.00"  # 80% of the sane 7.50
    wild = Bid.objects.get(campaign__slug="wild")
    assert wild.outcome == "bad_response"
    assert wild.price is None
    assert why in wild.reason

    sold = post(api, key, pinged.json()["ping_id"])
    assert sold.json()["status"] == "sold"
    lead_id = sold.json()["lead_id"]
    read = api.get(f"/api/v1/leads/{lead_id}", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert read.status_code == 200
    assert read.json()["price"] == "6.00"
    assert admin_client.get("/admin/leads/lead/").status_code == 200
    assert admin_client.get(f"/admin/leads/lead/{lead_id}/change/").status_code == 200


def test_a_campaign_max_bid_below_the_default_caps_its_bids(api: Any, buyer_server: Any) -> None:
    key = market(buyer_server, "50.00", max_bid=D("40.00"))

    pinged = ping(api, key)

    assert pinged.json()["price"] == "6.00"
    assert "max_bid 40.00" in Bid.objects.get(campaign__slug="wild").reason


def test_a_bid_at_exactly_max_bid_with_two_decimals_is_taken(api: Any, buyer_server: Any) -> None:
    key = market(buyer_server, '"40.00"', max_bid=D("40.00"))

    assert ping(api, key).json()["price"] == "32.00"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="only SQLite stores out-of-range numbers")
def test_a_lead_stored_with_an_out_of_range_amount_still_reads_everywhere(
    api: Any, buyer_server: Any, admin_client: Any
) -> None:
    key = market(buyer_server, "9.00")
    pinged = ping(api, key)
    sold = post(api, key, pinged.json()["ping_id"])
    lead_id = sold.json()["lead_id"]
    # As rows written before bids were checked hold them: wider than numeric(12, 4).
    Lead.objects.filter(pk=lead_id).update(price=D("100000000"), payout=D("80000000"))
    Bid.objects.filter(lead_id=lead_id).update(price=D("100000000"))

    read = api.get(f"/api/v1/leads/{lead_id}", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert read.status_code == 200
    assert read.json()["price"] == "80000000.00"
    assert admin_client.get("/admin/leads/lead/").status_code == 200
    assert admin_client.get(f"/admin/leads/lead/{lead_id}/change/").status_code == 200


def test_max_bid_comes_from_config_as_code_and_goes_back_out() -> None:
    from buyers.models import Campaign
    from exchange.configfile import ConfigFileError, export_config, import_config

    config = """
verticals:
  - {slug: solar, name: Solar}
buyers:
  - slug: summit
    name: Summit
    campaigns:
      - slug: summit-solar
        vertical: solar
        max_bid: "250.00"
        pricing: {model: dynamic, min_bid: "2.00"}
        ping: {url: "https://buyer.example/ping"}
        post: {url: "https://buyer.example/post"}
"""
    import_config(config)

    assert Campaign.objects.get().max_bid == D("250.00")
    assert 'max_bid: "250.00"' in export_config().text
    with pytest.raises(ConfigFileError, match="max_bid"):
        import_config(config.replace('"250.00"', '"-1"'))
