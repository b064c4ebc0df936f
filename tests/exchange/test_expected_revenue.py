"""``expected_revenue`` routing: a bid is weighed by its campaign's post acceptance and
non-return rates over the recent window (from the rollups, through the configuration
cache), so a buyer that takes what it bids on beats one that bids more and rejects."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exchange.models import Vertical
from leads.models import Lead
from reporting.tasks import refresh_quality, refresh_rollups
from tests.factories import make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

PING = {"zip": "75001", "state": "TX", "credit_tier": "good"}


def person(n: int) -> dict[str, str]:
    return {
        **PING,
        "first_name": "Ann",
        "last_name": f"Lee-{n}",
        "email": f"ann.{n}@example.com",
        "phone": f"(214) 555-{n:04d}",
    }


@pytest.fixture
def market(api: Any, buyer_server: Any) -> dict[str, Any]:
    """Steady bids 10.00 and takes every post; Flaky bids 15.00 and rejects every post.
    Six leads have gone to Flaky first (highest bid), then down the waterfall to Steady."""
    vertical = make_vertical()
    _, key = make_publisher()
    for name, bid, status in (("steady", "10.00", "ok"), ("flaky", "15.00", "no")):
        buyer_server.expect_request(f"/{name}/ping").respond_with_json(
            {"result": "accepted", "bid": bid, "bid_id": name}
        )
        buyer_server.expect_request(f"/{name}/post").respond_with_json(
            {"status": status, "error": "not interested"}
        )
        make_campaign(
            vertical,
            name,
            ping_url=buyer_server.url_for(f"/{name}/ping"),
            post_url=buyer_server.url_for(f"/{name}/post"),
            timeout_ms=3000,
            max_attempts=1,
        )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    for n in range(1, 7):
        body = {"vertical": "auto-insurance", "lead": person(n)}
        answer = api.post("/api/v1/leads", body, format="json", **headers).json()
        assert answer["status"] == "sold"
    refresh_rollups()  # the beat tasks that keep the figures
    refresh_quality()
    return {"vertical": vertical, "headers": headers, "server": buyer_server}


def ping(api: Any, market: dict) -> dict[str, Any]:
    body = {"vertical": "auto-insurance", "lead": PING}
    return api.post("/api/v1/ping", body, format="json", **market["headers"]).json()


def route_by_expected_revenue(tmp_path: Path) -> None:
    """Config as code: the vertical's routing set in the file."""
    path = tmp_path / "exchange.yaml"
    path.write_text(
        "verticals:\n"
        "  - slug: auto-insurance\n"
        "    name: Auto Insurance\n"
        "    routing: expected_revenue\n"
        "    fields:\n"
        "      - {name: credit_tier, type: choice, choices: [excellent, good, fair, poor]}\n"
    )
    call_command("exchange_config", "import", str(path), stdout=StringIO())


def ranking(lead_id: str) -> dict[str, dict[str, Any]]:
    return {t["campaign"]: t["ranking"] for t in Lead.objects.get(pk=lead_id).trace}


def test_expected_revenue_picks_the_lower_bid_of_the_buyer_that_accepts_its_posts(
    api: Any, market: dict, tmp_path: Path, client: Any
) -> None:
    by_price = ping(api, market)
    assert by_price["price"] == "12.00"  # auction: Flaky's 15.00 at an 80% payout

    route_by_expected_revenue(tmp_path)
    by_quality = ping(api, market)

    assert by_quality["status"] == "accepted"
    assert by_quality["price"] == "8.00"  # Steady's 10.00
    figures = ranking(by_quality["ping_id"])
    assert figures["steady"] == {
        "bid": "10.00",
        "acceptance": "0.9091",  # (6 accepted + 4) / (6 posts + 5)
        "non_return": "0.9375",  # (6 kept + 9) / (6 sold + 10)
        "weight": "0.8523",
        "expected": "8.52",
        "posts_seen": 6,
        "sales_seen": 6,
    }
    assert figures["flaky"]["bid"] == "15.00"
    assert figures["flaky"]["acceptance"] == "0.3636"  # (0 + 4) / (6 + 5)
    assert figures["flaky"]["expected"] == "4.91"

    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-12345")
    client.force_login(user)
    page = client.get(f"/admin/leads/lead/{by_quality['ping_id']}/change/").content.decode()
    assert "bid 15.00 × weight 0.3272" in page and "expected 4.91" in page


def test_a_new_campaign_is_weighed_by_the_prior(api: Any, market: dict, tmp_path: Path) -> None:
    route_by_expected_revenue(tmp_path)
    server = market["server"]
    server.expect_request("/rookie/ping").respond_with_json(
        {"result": "accepted", "bid": "11.00", "bid_id": "r"}
    )
    make_campaign(
        market["vertical"],
        "rookie",
        ping_url=server.url_for("/rookie/ping"),
        post_url=server.url_for("/rookie/post"),
        timeout_ms=3000,
    )

    answer = ping(api, market)

    rookie = ranking(answer["ping_id"])["rookie"]
    assert (rookie["weight"], rookie["posts_seen"], rookie["expected"]) == ("0.7200", 0, "7.92")
    assert answer["price"] == "8.00"  # Steady's record beats a slightly higher unknown bid


def test_weighing_bids_adds_no_query_to_a_ping(
    api: Any, market: dict, tmp_path: Path, settings: Any
) -> None:
    settings.SWITCHYARD = {
        **settings.SWITCHYARD,
        "CONFIG_CACHE_SECONDS": 3600,
        "CIRCUIT_STATE_SECONDS": 3600,
    }

    def queries() -> int:
        ping(api, market)  # warms the cache
        with CaptureQueriesContext(connection) as captured:
            assert ping(api, market)["status"] == "accepted"
        return len(captured.captured_queries)

    by_price = queries()
    route_by_expected_revenue(tmp_path)
    assert Vertical.objects.get().routing == "expected_revenue"

    assert queries() == by_price


def test_the_routing_is_exported_and_offered_in_the_admin(tmp_path: Path, client: Any) -> None:
    make_vertical()
    route_by_expected_revenue(tmp_path)
    out = StringIO()
    call_command("exchange_config", "export", stdout=out)
    assert "routing: expected_revenue" in out.getvalue()

    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-12345")
    client.force_login(user)
    vertical = Vertical.objects.get()
    page = client.get(f"/admin/exchange/vertical/{vertical.pk}/change/").content.decode()
    assert '<option value="expected_revenue" selected>' in page
