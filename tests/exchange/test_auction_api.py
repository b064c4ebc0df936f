"""The ping/post auction through the public API, against real local buyer servers."""

from __future__ import annotations

import json
import time
from decimal import Decimal as D
from typing import Any

import pytest
from werkzeug import Response

from leads.models import Delivery, Lead, LedgerEntry, TransactionLog
from tests.factories import (
    POST_LEAD,
    direct_post,
    make_campaign,
    make_publisher,
    make_vertical,
    ping,
    post,
)

pytestmark = pytest.mark.django_db


def bid(price: str, ref: str = "R1", delay: float = 0.0) -> Any:
    def handler(request: Any) -> Response:
        time.sleep(delay)
        body = {"result": "accepted", "bid": price, "bid_id": ref}
        return Response(json.dumps(body), content_type="application/json")

    return handler


def accept_post(request: Any) -> Response:
    return Response(json.dumps({"status": "ok", "lead_id": "B-1"}), content_type="application/json")


def reject_post(request: Any) -> Response:
    return Response(json.dumps({"status": "no", "error": "dupe"}), content_type="application/json")


def posts_to(server: Any, path: str) -> int:
    return sum(1 for request, _ in server.log if request.path == path)


@pytest.fixture
def market(buyer_server: Any) -> dict[str, Any]:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    url = buyer_server.url_for
    for name, price in (("high", "20.00"), ("low", "10.00")):
        buyer_server.expect_request(f"/{name}/ping").respond_with_handler(bid(price, f"{name}-ref"))
        buyer_server.expect_request(f"/{name}/post").respond_with_handler(accept_post)
        make_campaign(vertical, name, ping_url=url(f"/{name}/ping"), post_url=url(f"/{name}/post"))
    return {"key": key, "vertical": vertical, "server": buyer_server}


def test_a_ping_is_offered_the_best_payout_as_a_decimal_string(api: Any, market: dict) -> None:
    answer = ping(api, market["key"])

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "accepted"
    assert body["price"] == "16.00"  # 80% of the best bid, 20.00
    assert body["expires_at"].endswith("Z")
    phases = dict(part.split(";dur=") for part in answer.headers["Server-Timing"].split(", "))
    assert list(phases) == ["parse", "eligibility", "fanout", "ranking", "write", "total"]
    steps = sum(float(v) for k, v in phases.items() if k != "total")
    assert float(phases["total"]) >= steps  # the whole, from the view's start


def test_a_post_sells_to_the_best_bidder_which_receives_exactly_one_post(
    api: Any, market: dict
) -> None:
    ping_id = ping(api, market["key"]).json()["ping_id"]

    answer = post(api, market["key"], ping_id)

    assert answer.status_code == 200
    assert answer.json() == {"lead_id": ping_id, "status": "sold", "price": "16.00"}
    assert posts_to(market["server"], "/high/post") == 1
    assert posts_to(market["server"], "/low/post") == 0
    lead = Lead.objects.get(pk=ping_id)
    assert (lead.price, lead.payout) == (D("20.0000"), D("16.00"))


def test_the_buyer_gets_its_bid_reference_and_a_stable_idempotency_key(
    api: Any, market: dict
) -> None:
    ping_id = ping(api, market["key"]).json()["ping_id"]
    post(api, market["key"], ping_id)

    request = next(r for r, _ in market["server"].log if r.path == "/high/post")
    assert request.headers["Idempotency-Key"].startswith(ping_id)
    assert request.json["first_name"] == "Ann"
    assert request.json["phone"] == "+12145550143"


def test_posting_one_ping_twice_sells_once_and_replays_the_first_answer(
    api: Any, market: dict
) -> None:
    ping_id = ping(api, market["key"]).json()["ping_id"]

    first = post(api, market["key"], ping_id)
    second = post(api, market["key"], ping_id)

    assert second.status_code == 200
    assert second.json() == first.json()
    assert posts_to(market["server"], "/high/post") == 1
    assert LedgerEntry.objects.filter(lead_id=ping_id, kind="sale").count() == 1


def test_a_rejected_post_goes_down_the_waterfall(api: Any, buyer_server: Any) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    url = buyer_server.url_for
    buyer_server.expect_request("/picky/ping").respond_with_handler(bid("30.00"))
    buyer_server.expect_request("/picky/post").respond_with_handler(reject_post)
    buyer_server.expect_request("/easy/ping").respond_with_handler(bid("12.50"))
    buyer_server.expect_request("/easy/post").respond_with_handler(accept_post)
    make_campaign(vertical, "picky", ping_url=url("/picky/ping"), post_url=url("/picky/post"))
    make_campaign(vertical, "easy", ping_url=url("/easy/ping"), post_url=url("/easy/post"))
    ping_id = ping(api, key).json()["ping_id"]

    answer = post(api, key, ping_id).json()

    assert answer["status"] == "sold"
    assert answer["price"] == "10.00"
    statuses = dict(
        Delivery.objects.filter(lead_id=ping_id).values_list("campaign__slug", "status")
    )
    assert statuses == {"picky": "rejected", "easy": "accepted"}


def test_every_buyer_rejecting_the_post_answers_rejected(api: Any, buyer_server: Any) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    buyer_server.expect_request("/no/ping").respond_with_handler(bid("9.00"))
    buyer_server.expect_request("/no/post").respond_with_handler(reject_post)
    url = buyer_server.url_for
    make_campaign(vertical, "no", ping_url=url("/no/ping"), post_url=url("/no/post"))
    ping_id = ping(api, key).json()["ping_id"]

    answer = post(api, key, ping_id).json()

    assert answer == {"lead_id": ping_id, "status": "rejected", "reasons": ["all_buyers_rejected"]}


def hung_and_fast(
    buyer_server: Any, vertical: Any, timeout_ms: int = 300, fast_delay: float = 0.0
) -> None:
    """Two campaigns: "fast" bids 7.00 (after ``fast_delay`` s), "hung" never answers
    within its ``timeout_ms``."""

    def hang(request: Any) -> Response:
        buyer_server.release.wait(10)
        return Response("{}", content_type="application/json")

    url = buyer_server.url_for
    buyer_server.expect_request("/fast/ping").respond_with_handler(bid("7.00", delay=fast_delay))
    buyer_server.expect_request("/hung/ping").respond_with_handler(hang)
    make_campaign(vertical, "fast", ping_url=url("/fast/ping"), post_url=url("/fast/post"))
    make_campaign(
        vertical, "hung", ping_url=url("/hung/ping"), post_url=url("/hung/post"),
        timeout_ms=timeout_ms,
    )  # fmt: skip


def test_a_hung_buyer_does_not_delay_the_answer_past_its_timeout(
    api: Any, buyer_server: Any
) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    hung_and_fast(buyer_server, vertical, fast_delay=0.05)
    ping(api, key)  # warm the connection pool and the config cache

    started = time.perf_counter()
    answer = ping(api, key)
    elapsed = time.perf_counter() - started

    assert answer.json()["status"] == "accepted"
    assert answer.json()["price"] == "5.60"
    assert elapsed < 2  # the hung buyer holds its answer for 10 s
    lead = Lead.objects.get(pk=answer.json()["ping_id"])
    outcomes = dict(lead.bids.values_list("campaign__slug", "outcome"))
    assert outcomes == {"fast": "accepted", "hung": "timeout"}


@pytest.mark.parametrize("settle_early_ms", [5, 0])
def test_a_hung_buyer_with_the_shortest_timeout_holds_the_ping_only_that_long(
    api: Any, buyer_server: Any, settings: Any, settle_early_ms: int
) -> None:
    """Four buyers bid within 20-70 ms under a 1.5 s timeout; the hung one's own timeout
    is 150 ms. The answer comes at about 150 ms, whether the bids are settled ahead
    or not, and however long the transport loop takes to drop the hung call."""
    settings.SWITCHYARD = {
        **settings.SWITCHYARD,
        "SETTLE_EARLY_MS": settle_early_ms,
        "CUT_OFF_GRACE_MS": 3000,
    }
    vertical = make_vertical()
    _, key = make_publisher()
    url = buyer_server.url_for
    for n, delay in enumerate((0.02, 0.035, 0.05, 0.07), start=1):
        buyer_server.expect_request(f"/b{n}/ping").respond_with_handler(bid(f"{n}.00", delay=delay))
        make_campaign(
            vertical, f"b{n}", ping_url=url(f"/b{n}/ping"), post_url=url(f"/b{n}/post"),
            timeout_ms=1500,
        )  # fmt: skip

    def hang(request: Any) -> Response:
        buyer_server.release.wait(10)
        return Response("{}", content_type="application/json")

    buyer_server.expect_request("/hung/ping").respond_with_handler(hang)
    make_campaign(
        vertical, "hung", ping_url=url("/hung/ping"), post_url=url("/hung/post"), timeout_ms=150
    )

    started = time.perf_counter()
    answer = ping(api, key)
    elapsed = time.perf_counter() - started

    assert answer.json()["status"] == "accepted"
    assert answer.json()["price"] == "3.20"  # 80% of the best bid, 4.00
    assert elapsed < 1.0  # the others' timeout is 1.5 s
    timing = phases(answer)
    assert 150 <= timing["fanout"] < 1000
    assert ("ahead" in timing) is (settle_early_ms > 0)
    lead = Lead.objects.get(pk=answer.json()["ping_id"])
    bids = {b.campaign.slug: b for b in lead.bids.select_related("campaign")}
    assert {s: b.outcome for s, b in bids.items()} == {
        "b1": "accepted", "b2": "accepted", "b3": "accepted", "b4": "accepted",
        "hung": "timeout",
    }  # fmt: skip
    assert bids["hung"].latency_ms == 150
    call = TransactionLog.objects.get(lead=lead, campaign=bids["hung"].campaign, kind="ping")
    assert (call.outcome, call.duration_ms, call.error) == (
        "timeout", 150, "timed out",
    )  # fmt: skip


def phases(answer: Any) -> dict[str, float]:
    return {
        name: float(duration.split("=")[1])
        for name, _, duration in (m.partition(";") for m in answer["Server-Timing"].split(", "))
    }


@pytest.mark.django_db(transaction=True)  # PostgreSQL: the rows really are sent ahead
def test_a_ping_held_by_a_hung_buyer_is_settled_ahead_and_committed_at_the_deadline(
    api: Any, buyer_server: Any
) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    hung_and_fast(buyer_server, vertical)

    answer = ping(api, key)

    assert answer.json()["status"] == "accepted" and answer.json()["price"] == "5.60"
    timing = phases(answer)
    assert list(timing) == ["parse", "eligibility", "fanout", "ranking", "ahead", "write", "total"]
    assert timing["fanout"] >= 300 and timing["total"] < 2000  # the hung buyer waits 10 s
    lead = Lead.objects.get(pk=answer.json()["ping_id"])
    assert lead.offer_price == D("5.60")
    bids = {b.campaign.slug: b for b in lead.bids.select_related("campaign")}
    assert {s: (b.outcome, b.rank) for s, b in bids.items()} == {
        "fast": ("accepted", 1),
        "hung": ("timeout", None),
    }
    assert bids["hung"].latency_ms == 300
    ping_id = answer.json()["ping_id"]
    buyer_server.expect_request("/fast/post").respond_with_handler(accept_post)
    assert post(api, key, ping_id).json()["status"] == "sold"


@pytest.mark.django_db(transaction=True)
def test_a_bid_that_comes_after_the_early_settling_but_in_time_is_ranked(
    api: Any, buyer_server: Any, settings: Any
) -> None:
    """The rows sent ahead are dropped: the lead is written once, with the late bid."""
    settings.SWITCHYARD = {**settings.SWITCHYARD, "SETTLE_EARLY_MS": 200}
    vertical = make_vertical()
    _, key = make_publisher()
    url = buyer_server.url_for
    buyer_server.expect_request("/fast/ping").respond_with_handler(bid("7.00"))
    buyer_server.expect_request("/late/ping").respond_with_handler(bid("30.00", delay=0.2))
    make_campaign(vertical, "fast", ping_url=url("/fast/ping"), post_url=url("/fast/post"))
    make_campaign(
        vertical, "late", ping_url=url("/late/ping"), post_url=url("/late/post"), timeout_ms=300
    )  # settled ahead at 100 ms; the late bid comes at 200 ms

    answer = ping(api, key)

    assert answer.json()["price"] == "24.00"
    assert "ahead" not in phases(answer)
    lead = Lead.objects.get(pk=answer.json()["ping_id"])
    assert lead.offer_price == D("24.00")
    assert Lead.objects.count() == 1
    ranks = dict(lead.bids.values_list("campaign__slug", "rank"))
    assert ranks == {"late": 1, "fast": 2}


def test_settling_ahead_can_be_turned_off(api: Any, buyer_server: Any, settings: Any) -> None:
    settings.SWITCHYARD = {**settings.SWITCHYARD, "SETTLE_EARLY_MS": 0}
    vertical = make_vertical()
    _, key = make_publisher()
    hung_and_fast(buyer_server, vertical, timeout_ms=150)

    answer = ping(api, key)

    assert answer.json()["price"] == "5.60"
    assert "ranking" in phases(answer) and "ahead" not in phases(answer)


def test_fixed_price_campaigns_without_a_ping_endpoint_bid_without_http(
    api: Any, buyer_server: Any
) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    buyer_server.expect_request("/flat/post").respond_with_handler(accept_post)
    make_campaign(
        vertical,
        "flat",
        post_url=buyer_server.url_for("/flat/post"),
        pricing_model="fixed",
        fixed_price="6.00",
    )

    answer = ping(api, key).json()

    assert answer["price"] == "4.80"
    assert len(buyer_server.log) == 0


def test_no_campaign_for_the_vertical_answers_no_eligible_buyers(api: Any) -> None:
    make_vertical()
    _, key = make_publisher()

    answer = ping(api, key).json()

    assert answer["status"] == "rejected"
    assert answer["reasons"] == ["no_eligible_buyers"]


def test_bids_whose_payout_is_below_the_publisher_floor_are_not_offered(
    api: Any, buyer_server: Any
) -> None:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("5.00"))
    buyer_server.expect_request("/cheap/ping").respond_with_handler(bid("4.00"))
    url = buyer_server.url_for
    make_campaign(vertical, "cheap", ping_url=url("/cheap/ping"), post_url=url("/cheap/post"))

    answer = ping(api, key).json()

    assert answer["status"] == "rejected"
    assert answer["reasons"] == ["below_floor"]


def test_a_post_after_the_offer_expired_gets_410(api: Any, market: dict) -> None:
    ping_id = ping(api, market["key"]).json()["ping_id"]
    Lead.objects.filter(pk=ping_id).update(offer_expires_at="2000-01-01T00:00:00Z")

    answer = post(api, market["key"], ping_id)

    assert answer.status_code == 410
    assert answer.json()["error"]["code"] == "ping_expired"
    assert posts_to(market["server"], "/high/post") == 0


def test_a_post_may_not_change_what_the_buyers_bid_on(api: Any, market: dict) -> None:
    ping_id = ping(api, market["key"]).json()["ping_id"]

    answer = post(api, market["key"], ping_id, {**POST_LEAD, "credit_tier": "poor"})

    assert answer.status_code == 422
    assert answer.json()["error"]["fields"] == {
        "lead.credit_tier": ["differs from the value sent in the ping"]
    }


def test_a_direct_post_runs_the_auction_and_sells(api: Any, market: dict) -> None:
    answer = direct_post(api, market["key"])

    assert answer.status_code == 200
    assert answer.json()["status"] == "sold"
    assert posts_to(market["server"], "/high/post") == 1
    ping_request = next(r for r, _ in market["server"].log if r.path == "/high/ping")
    assert "first_name" not in ping_request.json and "phone" not in ping_request.json


def test_a_direct_post_with_the_same_idempotency_key_sells_once(api: Any, market: dict) -> None:
    def send() -> Any:
        return direct_post(api, market["key"], HTTP_IDEMPOTENCY_KEY="order-77")

    first, second = send(), send()

    assert second.json() == first.json()
    assert posts_to(market["server"], "/high/post") == 1
    assert Lead.objects.count() == 1


def test_the_same_person_sold_again_in_the_window_is_a_duplicate(api: Any, market: dict) -> None:
    post(api, market["key"], ping(api, market["key"]).json()["ping_id"])

    again = post(api, market["key"], ping(api, market["key"]).json()["ping_id"]).json()

    assert again["status"] == "rejected"
    assert again["reasons"] == ["duplicate"]
    assert posts_to(market["server"], "/high/post") == 1


def test_a_test_key_runs_the_auction_without_money(api: Any, market: dict) -> None:
    from exchange.models import Publisher
    from exchange.services import create_api_key

    _, test_key = create_api_key(kind="test", publisher=Publisher.objects.get())
    ping_id = ping(api, test_key).json()["ping_id"]

    answer = post(api, test_key, ping_id).json()

    assert answer["status"] == "sold"
    assert Lead.objects.get(pk=ping_id).is_test
    assert not LedgerEntry.objects.exists()
    assert len(market["server"].log) == 0  # no test URLs configured: simulated answers


def test_the_lead_detail_shows_status_price_and_timeline(api: Any, market: dict) -> None:
    ping_id = ping(api, market["key"]).json()["ping_id"]
    post(api, market["key"], ping_id)

    answer = api.get(f"/api/v1/leads/{ping_id}", HTTP_AUTHORIZATION=f"Bearer {market['key']}")

    body = answer.json()
    assert body["status"] == "sold"
    assert body["price"] == "16.00"
    assert [e["status"] for e in body["timeline"]] == ["accepted", "pending", "sold"]
    assert "high" not in json.dumps(body["trace"])


def unbuildable(market: dict, slug: str, kind: str) -> Any:
    """A campaign whose ``kind`` body cannot be encoded: a mapping saved before the XML
    target checks existed, whose target "2nd" cannot be an element name."""
    url = market["server"].url_for
    campaign = make_campaign(
        market["vertical"], slug, ping_url=url(f"/{slug}/ping"), post_url=url(f"/{slug}/post")
    )
    market["server"].expect_request(f"/{slug}/ping").respond_with_handler(bid("50.00"))
    mapping = [{"to": "2nd", "from": "zip"}]
    campaign.endpoints.filter(kind=kind).update(format="xml", mapping=mapping)
    return campaign


def test_a_ping_that_cannot_be_built_costs_only_that_buyer_its_bid(api: Any, market: dict) -> None:
    broken = unbuildable(market, "broken", "ping")

    answer = ping(api, market["key"])

    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["price"]) == ("accepted", "16.00")
    assert posts_to(market["server"], "/broken/ping") == 0
    log = TransactionLog.objects.get(campaign=broken, kind="ping")
    assert log.outcome == "transport_error"
    assert log.error == "the body cannot be built: '2nd' cannot be an XML element name"


def test_a_post_that_cannot_be_built_goes_to_the_next_bidder_at_once(
    api: Any, market: dict
) -> None:
    unbuildable(market, "broken", "post")  # the best bid, 50.00
    ping_id = ping(api, market["key"]).json()["ping_id"]

    answer = post(api, market["key"], ping_id)

    assert answer.status_code == 200
    assert answer.json()["status"] == "sold"  # to the next bidder, without waiting
    assert posts_to(market["server"], "/broken/post") == 0
    delivery = Delivery.objects.get(lead_id=ping_id, campaign__slug="broken")
    assert (delivery.status, delivery.attempts) == ("failed", 1)  # retrying cannot help
    assert delivery.reason == "the body cannot be built: '2nd' cannot be an XML element name"
