"""Retries, the waterfall after them, the failed state and its replay (SPEC §4, §6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from werkzeug import Request, Response

from leads.delivery import replay_lead
from leads.models import Delivery, Lead, LedgerEntry, TransactionLog
from leads.tasks import deliver_lead
from tests.factories import POST_LEAD, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

OK = {"status": "ok", "lead_id": "B-1"}


def bid(price: str) -> Any:
    def handler(request: Request) -> Response:
        body = {"result": "accepted", "bid": price, "bid_id": "R"}
        return Response(json.dumps(body), content_type="application/json")

    return handler


class Script:
    """A buyer's post endpoint answering from a script: (status, body) per call, the
    last entry repeating."""

    def __init__(self, *answers: tuple[int, dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        status, body = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.fixture
def market(buyer_server: Any) -> Iterator[dict[str, Any]]:
    """Two bidders, "first" (20.00) above "second" (10.00); tests script their posts."""
    vertical = make_vertical()
    _, key = make_publisher()
    posts = {}
    for name, price in (("first", "20.00"), ("second", "10.00")):
        posts[name] = Script((200, OK))
        buyer_server.expect_request(f"/{name}/ping").respond_with_handler(bid(price))
        buyer_server.expect_request(f"/{name}/post").respond_with_handler(
            lambda r, name=name: posts[name](r)
        )
        make_campaign(
            vertical,
            name,
            ping_url=buyer_server.url_for(f"/{name}/ping"),
            post_url=buyer_server.url_for(f"/{name}/post"),
            # Pings answer at once; a generous timeout keeps a loaded machine from
            # turning a bid into a timeout (these tests are about the posts).
            timeout_ms=3000,
            post_timeout_ms=500,
        )
    yield {"key": key, "posts": posts, "vertical": vertical}


def direct_post(api: Any, key: str, mode: str = "async") -> dict[str, Any]:
    body = {"vertical": "auto-insurance", "lead": POST_LEAD, "mode": mode}
    answer = api.post("/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 200, answer.content
    return answer.json()


def work(lead_id: str) -> str:
    """What the worker does when the lead's next retry falls due (no waiting in tests)."""
    Delivery.objects.filter(lead_id=lead_id, status="retry").update(next_attempt_at=timezone.now())
    return deliver_lead(lead_id)


def configure(slug: str | None = None, **fields: Any) -> None:
    """Change campaigns through save(), as the admin does, so the config cache sees it."""
    from buyers.models import Campaign

    campaigns = Campaign.objects.filter(slug=slug) if slug else Campaign.objects.all()
    for campaign in campaigns:
        for name, value in fields.items():
            setattr(campaign, name, value)
        campaign.save()


def delivery(lead_id: str, slug: str) -> Delivery:
    return Delivery.objects.get(lead_id=lead_id, campaign__slug=slug)


def test_a_buyer_failing_twice_with_503_then_accepting_is_sold_after_three_attempts(
    api: Any, market: dict
) -> None:
    market["posts"]["first"].answers = [(503, {}), (503, {}), (200, OK)]
    lead_id = direct_post(api, market["key"])["lead_id"]

    assert work(lead_id) == "pending"
    assert work(lead_id) == "pending"
    assert work(lead_id) == "sold"

    lead = Lead.objects.get(pk=lead_id)
    assert (lead.sold_campaign.slug, lead.price) == ("first", D("20.0000"))
    attempts = TransactionLog.objects.filter(lead_id=lead_id, kind="post").order_by("attempt")
    assert [(a.attempt, a.status_code, a.outcome) for a in attempts] == [
        (1, 503, "http_error"),
        (2, 503, "http_error"),
        (3, 200, "accepted"),
    ]
    assert len(market["posts"]["second"].requests) == 0
    keys = {r.headers["Idempotency-Key"] for r in market["posts"]["first"].requests}
    assert keys == {f"{lead_id}:{delivery(lead_id, 'first').campaign_id}"}


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_retryable_statuses_wait_for_a_retry_before_the_next_bidder(
    api: Any, market: dict, status: int
) -> None:
    market["posts"]["first"].answers = [(status, {})]
    lead_id = direct_post(api, market["key"])["lead_id"]

    work(lead_id)

    first = delivery(lead_id, "first")
    assert (first.status, first.attempts) == ("retry", 1)
    assert delivery(lead_id, "second").attempts == 0


@pytest.mark.parametrize(
    ("answer", "status"),
    [((200, {"status": "no", "error": "dupe"}), "rejected"), ((400, {}), "failed")],
)
def test_a_rejection_or_a_permanent_4xx_is_never_retried(
    api: Any, market: dict, answer: tuple, status: str
) -> None:
    market["posts"]["first"].answers = [answer]
    lead_id = direct_post(api, market["key"])["lead_id"]

    assert work(lead_id) == "sold"

    first = delivery(lead_id, "first")
    assert (first.status, first.attempts) == (status, 1)
    assert Lead.objects.get(pk=lead_id).sold_campaign.slug == "second"


def test_a_timeout_is_retried(api: Any, market: dict, buyer_server: Any) -> None:
    from buyers.models import Endpoint

    Endpoint.objects.filter(campaign__slug="first", kind="post").update(
        url=buyer_server.url_for("/slow")
    )

    def hang(request: Request) -> Response:
        buyer_server.release.wait(5)
        return Response("late")

    buyer_server.expect_request("/slow").respond_with_handler(hang)
    lead_id = direct_post(api, market["key"])["lead_id"]

    work(lead_id)

    first = delivery(lead_id, "first")
    assert (first.status, first.last_outcome) == ("retry", "timeout")


def test_retries_follow_the_campaign_backoff_with_jitter(api: Any, market: dict) -> None:
    configure("first", retry_backoff=[3, 7])
    market["posts"]["first"].answers = [(503, {})]
    lead_id = direct_post(api, market["key"])["lead_id"]

    waits = []
    for _ in range(3):
        started = timezone.now()
        work(lead_id)
        waits.append((delivery(lead_id, "first").next_attempt_at - started).total_seconds())

    assert 3 <= waits[0] <= 3 * 1.25 + 1
    assert 7 <= waits[1] <= 7 * 1.25 + 1
    assert 7 <= waits[2] <= 7 * 1.25 + 1  # the last step repeats


def test_after_max_attempts_the_next_bidder_gets_the_lead(api: Any, market: dict) -> None:
    configure("first", max_attempts=2)
    market["posts"]["first"].answers = [(503, {})]
    lead_id = direct_post(api, market["key"])["lead_id"]

    assert work(lead_id) == "pending"
    assert work(lead_id) == "sold"

    first = delivery(lead_id, "first")
    assert (first.status, first.attempts) == ("failed", 2)
    assert Lead.objects.get(pk=lead_id).sold_campaign.slug == "second"


def failed_lead(api: Any, market: dict) -> str:
    configure(max_attempts=1)
    for script in market["posts"].values():
        script.answers = [(503, {})]
    lead_id = direct_post(api, market["key"])["lead_id"]
    assert deliver_lead(lead_id) == "failed"
    return lead_id


def test_when_every_bidder_gives_up_the_lead_is_failed_and_the_publisher_reads_rejected(
    api: Any, market: dict
) -> None:
    lead_id = failed_lead(api, market)

    detail = api.get(f"/api/v1/leads/{lead_id}", HTTP_AUTHORIZATION=f"Bearer {market['key']}")

    assert detail.json()["status"] == "rejected"
    assert detail.json()["reasons"] == ["delivery_failed"]
    assert Lead.objects.get(pk=lead_id).status == "failed"


def test_a_replayed_failed_lead_is_delivered_once(api: Any, market: dict) -> None:
    lead_id = failed_lead(api, market)
    market["posts"]["first"].answers = [(200, OK)]

    assert replay_lead(Lead.objects.get(pk=lead_id)) is True
    assert replay_lead(Lead.objects.get(pk=lead_id)) is False  # a double click
    for _ in range(3):
        deliver_lead(lead_id)

    lead = Lead.objects.get(pk=lead_id)
    assert (lead.status, lead.sold_campaign.slug) == ("sold", "first")
    assert len(market["posts"]["first"].requests) == 2  # the failed one, then the sale
    assert LedgerEntry.objects.filter(lead_id=lead_id, kind="sale").count() == 1
    timeline = list(lead.events.values_list("to_status", flat=True))
    assert timeline[-3:] == ["failed", "pending", "sold"]


def test_replaying_a_lead_that_did_not_fail_changes_nothing(api: Any, market: dict) -> None:
    lead_id = direct_post(api, market["key"], mode="sync")["lead_id"]

    assert replay_lead(Lead.objects.get(pk=lead_id)) is False
    assert Lead.objects.get(pk=lead_id).status == "sold"


@pytest.fixture
def manager(client: Any) -> Any:
    user = User.objects.create_superuser("am", "am@example.com", "pw")
    client.force_login(user)
    return client


def test_the_failed_delivery_screen_lists_failed_deliveries_with_their_attempts(
    api: Any, market: dict, manager: Any
) -> None:
    lead_id = failed_lead(api, market)

    listing = manager.get("/admin/leads/delivery/failed/", follow=True)
    first = delivery(lead_id, "first")
    detail = manager.get(f"/admin/leads/delivery/{first.pk}/change/")

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 2
    assert detail.status_code == 200
    assert "HTTP 503" in detail.content.decode()


def test_an_account_manager_replays_a_failed_lead_from_the_admin(
    api: Any, market: dict, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    lead_id = failed_lead(api, market)
    market["posts"]["second"].answers = [(200, OK)]

    with django_capture_on_commit_callbacks() as callbacks:
        answer = manager.post(
            "/admin/leads/lead/",
            {"action": "replay", "_selected_action": [lead_id]},
            follow=True,
        )

    assert answer.status_code == 200
    assert "Replayed 1 lead" in answer.content.decode()
    assert len(callbacks) == 1  # the lead is scheduled once the replay commits
    assert deliver_lead(lead_id) == "sold"
    assert Lead.objects.get(pk=lead_id).sold_campaign.slug == "second"


def test_retry_times_are_kept_in_the_database(api: Any, market: dict) -> None:
    market["posts"]["first"].answers = [(503, {})]
    lead_id = direct_post(api, market["key"])["lead_id"]

    deliver_lead(lead_id)
    first = delivery(lead_id, "first")
    # Before the retry is due, another task does nothing.
    deliver_lead(lead_id)

    assert first.next_attempt_at > timezone.now() + timedelta(seconds=1)
    assert len(market["posts"]["first"].requests) == 1
