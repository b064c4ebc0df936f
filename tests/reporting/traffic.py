"""Scripted traffic for the reporting tests: publishers send pings, posts and direct
posts through the API to four local fake buyers that bid, pass, reject and fail in
known ways; one buyer returns some of what it bought through its own API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from werkzeug import Request, Response

from buyers.models import Buyer, Campaign
from exchange.services import create_api_key
from leads.models import Bid, Delivery, Lead, LedgerEntry, TransactionLog
from tests.factories import make_campaign, make_publisher, make_vertical

NOT_POOR = [{"field": "credit_tier", "op": "ne", "value": "poor"}]
# Generous: on a loaded machine a 300 ms ping could time out and change who wins.
TIMEOUT_MS = 3000


@dataclass
class Market:
    publishers: dict[str, str]  # slug -> API key
    campaigns: dict[str, Campaign]
    buyer_key: str  # Summit's key, for returns


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")


def _bolt_ping(request: Request) -> Response:
    lead = json.loads(request.data or b"{}")
    if lead.get("credit_tier") == "excellent":
        return _json({"result": "accepted", "bid": "25.50", "bid_id": "B1"})
    return _json({"result": "rejected"})


def build_market(server: Any) -> Market:
    """Summit bids 20.00 on any lead but a poor one and buys; Bolt bids 25.50 on
    excellent leads only and rejects every post; Crash answers every ping with HTTP 500;
    Fixed bids a fixed 12.00 without a ping and buys."""
    vertical = make_vertical()
    _, acme = make_publisher("acme")
    _, zeta = make_publisher("zeta", payout_percent=70)
    server.expect_request("/summit/ping").respond_with_json(
        {"result": "accepted", "bid": "20.00", "bid_id": "S1"}
    )
    server.expect_request("/summit/post").respond_with_json({"status": "ok", "lead_id": "S"})
    server.expect_request("/bolt/ping").respond_with_handler(_bolt_ping)
    server.expect_request("/bolt/post").respond_with_json({"status": "no", "error": "duplicate"})
    server.expect_request("/crash/ping").respond_with_data("boom", status=500)
    server.expect_request("/fixed/post").respond_with_json({"status": "ok", "lead_id": "F"})
    summit = Buyer.objects.create(slug="summit", name="Summit", max_return_percent=100)
    campaigns = {
        "summit-tx": make_campaign(
            vertical,
            "summit-tx",
            buyer=summit,
            ping_url=server.url_for("/summit/ping"),
            post_url=server.url_for("/summit/post"),
            filters=NOT_POOR,
            timeout_ms=TIMEOUT_MS,
        ),
        "bolt": make_campaign(
            vertical,
            "bolt",
            ping_url=server.url_for("/bolt/ping"),
            post_url=server.url_for("/bolt/post"),
            max_attempts=1,
            timeout_ms=TIMEOUT_MS,
        ),
        "crash": make_campaign(
            vertical,
            "crash",
            ping_url=server.url_for("/crash/ping"),
            post_url=server.url_for("/crash/post"),
        ),
        "fixed": make_campaign(
            vertical,
            "fixed",
            post_url=server.url_for("/fixed/post"),
            pricing_model="fixed",
            fixed_price="12.00",
            filters=NOT_POOR,
        ),
    }
    _, buyer_key = create_api_key(kind="buyer", buyer=summit)
    return Market({"acme": acme, "zeta": zeta}, campaigns, buyer_key)


def lead(tier: str, n: int) -> dict[str, str]:
    return {
        "zip": "75001",
        "state": "TX",
        "credit_tier": tier,
        "first_name": "Ann",
        "last_name": f"Lee-{n}",
        "email": f"ann.{n}@example.com",
        "phone": f"(214) 555-{n:04d}",
    }


PING_FIELDS = ("zip", "state", "credit_tier")


def send(api: Any, market: Market, tiers: list[tuple[str, str, str]], start: int) -> list[str]:
    """Send one lead per (publisher, tier, how) where how is ping (ping only), post
    (ping then post) or direct (one call); returns the ids of the leads sold."""
    sold = []
    for n, (publisher, tier, how) in enumerate(tiers, start=start):
        auth = {"HTTP_AUTHORIZATION": f"Bearer {market.publishers[publisher]}"}
        full = lead(tier, n)
        if how == "direct":
            answer = api.post(
                "/api/v1/leads", {"vertical": "auto-insurance", "lead": full}, format="json", **auth
            ).json()
            lead_id = answer["lead_id"]
        else:
            ping = {k: full[k] for k in PING_FIELDS}
            answer = api.post(
                "/api/v1/ping", {"vertical": "auto-insurance", "lead": ping}, format="json", **auth
            ).json()
            lead_id = answer["ping_id"]
            if how == "post" and answer["status"] == "accepted":
                answer = api.post(
                    "/api/v1/post", {"ping_id": lead_id, "lead": full}, format="json", **auth
                ).json()
        if answer.get("status") == "sold":
            sold.append(lead_id)
    return sold


def give_back(api: Any, market: Market, lead_ids: list[str], count: int) -> None:
    """Summit returns the first ``count`` of these leads that it bought."""
    summit = market.campaigns["summit-tx"]
    bought = [i for i in lead_ids if Lead.objects.filter(pk=i, sold_campaign=summit).exists()]
    assert len(bought) >= count
    for lead_id in bought[:count]:
        answer = api.post(
            "/api/v1/returns",
            {"lead_id": lead_id, "reason": "bad_data"},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {market.buyer_key}",
        )
        assert answer.status_code in (200, 201), answer.content


def move_back(lead_ids: list[str], by: timedelta) -> None:
    """Move the raw rows of these leads back in time, as if they came earlier."""
    leads = Lead.objects.filter(pk__in=lead_ids)
    for row in leads:
        Lead.objects.filter(pk=row.pk).update(
            created_at=row.created_at - by,
            posted_at=row.posted_at - by if row.posted_at else None,
            sold_at=row.sold_at - by if row.sold_at else None,
        )
    for model, column in (
        (Bid, "created_at"),
        (TransactionLog, "created_at"),
        (Delivery, "updated_at"),
        (LedgerEntry, "created_at"),
    ):
        for pk, at in model.objects.filter(lead_id__in=lead_ids).values_list("pk", column):
            model.objects.filter(pk=pk).update(**{column: at - by})
