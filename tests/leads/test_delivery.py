"""Post modes, the outbox, leases and the sweeper: no lead lost, none posted twice (SPEC §6)."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError
from werkzeug import Request, Response

from buyers.choices import CircuitStatus
from buyers.models import CircuitState, Endpoint
from leads.delivery import acquire_lease, advance
from leads.models import Delivery, Lead, LedgerEntry, TransactionLog
from leads.tasks import deliver_lead, sweep_deliveries
from tests.factories import POST_LEAD, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

OK = {"status": "ok", "lead_id": "B-1"}
PEOPLE = itertools.count()


class Buyer:
    """One buyer's endpoints: a fixed bid, and a post answer that tests can change."""

    def __init__(self, server: Any, name: str, price: str) -> None:
        self.posts: list[Request] = []
        self.status, self.body, self.delay = 200, OK, 0.0
        self.first_statuses: list[int] = []  # answered, in order, before ``status``
        server.expect_request(f"/{name}/ping").respond_with_json(
            {"result": "accepted", "bid": price, "bid_id": name}
        )
        server.expect_request(f"/{name}/post").respond_with_handler(self.post)
        self.release = server.release

    def post(self, request: Request) -> Response:
        self.posts.append(request)
        if self.delay:
            self.release.wait(self.delay)
        status = self.first_statuses.pop(0) if self.first_statuses else self.status
        return Response(json.dumps(self.body), status, content_type="application/json")


@pytest.fixture
def market(buyer_server: Any) -> dict[str, Any]:
    vertical = make_vertical(post_deadline_ms=1500)
    _, key = make_publisher()
    buyers = {}
    for name, price in (("first", "20.00"), ("second", "10.00")):
        buyers[name] = Buyer(buyer_server, name, price)
        make_campaign(
            vertical,
            name,
            ping_url=buyer_server.url_for(f"/{name}/ping"),
            post_url=buyer_server.url_for(f"/{name}/post"),
            post_timeout_ms=3000,
        )
    return {"key": key, "vertical": vertical, **buyers}


def a_lead(number: int) -> dict[str, str]:
    """A different person each time, so the duplicate check never refuses it."""
    return {
        **POST_LEAD,
        "phone": f"(214) 555-{100 + number:04d}",
        "email": f"p{number}@example.com",
    }


def direct_post(api: Any, key: str, mode: str) -> dict[str, Any]:
    body = {"vertical": "auto-insurance", "lead": a_lead(next(PEOPLE)), "mode": mode}
    answer = api.post("/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 200, answer.content
    return answer.json()


def lead_status(api: Any, key: str, lead_id: str) -> dict[str, Any]:
    return api.get(f"/api/v1/leads/{lead_id}", HTTP_AUTHORIZATION=f"Bearer {key}").json()


def test_an_async_post_answers_pending_at_once_and_a_worker_sells_it(
    api: Any, market: dict, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        mock.patch("leads.tasks.deliver_lead.apply_async") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        answer = direct_post(api, market["key"], "async")

    assert answer == {"lead_id": answer["lead_id"], "status": "pending"}
    assert market["first"].posts == []  # nothing was posted in the request
    assert Delivery.objects.filter(lead_id=answer["lead_id"], status="queued").count() == 2
    enqueue.assert_called_once_with((answer["lead_id"],), eta=None)

    assert deliver_lead(answer["lead_id"]) == "sold"
    status = lead_status(api, market["key"], answer["lead_id"])
    assert (status["status"], status["price"]) == ("sold", "16.00")


def test_a_sync_post_answers_within_its_deadline_and_leaves_the_rest_to_the_workers(
    api: Any, market: dict, django_capture_on_commit_callbacks: Any
) -> None:
    market["first"].status = 503  # retried after 2 s: past this vertical's 1.5 s deadline

    with (
        mock.patch("leads.tasks.deliver_lead.apply_async") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        started = timezone.now()
        answer = direct_post(api, market["key"], "sync")
        took = (timezone.now() - started).total_seconds()

    assert answer["status"] == "pending"
    assert took < 2  # not held for the retry, due 2 s after the first attempt
    retry_at = Delivery.objects.get(lead_id=answer["lead_id"], campaign__slug="first")
    enqueue.assert_called_once_with((answer["lead_id"],), eta=retry_at.next_attempt_at)
    assert lead_status(api, market["key"], answer["lead_id"])["status"] == "pending"


def test_a_sync_post_spends_its_deadline_on_a_retry_that_falls_due_in_time(
    api: Any, market: dict
) -> None:
    from buyers.models import Campaign
    from exchange.models import Vertical

    vertical = Vertical.objects.get(pk=market["vertical"].pk)
    vertical.post_deadline_ms = 3000
    vertical.save()
    campaign = Campaign.objects.get(slug="first")
    campaign.retry_backoff = [1]
    campaign.save()
    market["first"].first_statuses = [503]  # then 200: the retry, due in 1 s, is accepted

    answer = direct_post(api, market["key"], "sync")

    assert answer["status"] == "sold"
    assert Lead.objects.get(pk=answer["lead_id"]).sold_campaign.slug == "first"
    assert len(market["first"].posts) == 2


def test_twenty_duplicate_tasks_for_one_lead_post_once(api: Any, market: dict) -> None:
    lead_id = direct_post(api, market["key"], "async")["lead_id"]

    results = [deliver_lead(lead_id) for _ in range(20)]

    assert set(results) == {"sold"}
    assert len(market["first"].posts) == 1
    assert LedgerEntry.objects.filter(lead_id=lead_id, kind="sale").count() == 1


def test_a_lead_whose_lease_is_held_is_left_to_its_holder(api: Any, market: dict) -> None:
    lead_id = direct_post(api, market["key"], "async")["lead_id"]
    assert acquire_lease(lead_id, 60) is not None  # another worker is on it

    assert advance(lead_id) == "pending"
    assert market["first"].posts == []


def test_an_attempt_interrupted_by_a_dead_worker_is_sent_again_with_the_same_key(
    api: Any, market: dict
) -> None:
    lead_id = direct_post(api, market["key"], "async")["lead_id"]
    # A worker claimed the delivery, then died: the delivery says "sending", the lease ran out.
    Delivery.objects.filter(lead_id=lead_id, campaign__slug="first").update(
        status="sending", attempts=1, claimed_at=timezone.now() - timedelta(minutes=1)
    )
    Lead.objects.filter(pk=lead_id).update(lease_until=timezone.now() - timedelta(seconds=1))

    assert deliver_lead(lead_id) == "sold"

    first = Delivery.objects.get(lead_id=lead_id, campaign__slug="first")
    assert (first.status, first.attempts) == ("accepted", 2)
    assert market["first"].posts[0].headers["Idempotency-Key"] == first.idempotency_key


def test_a_post_while_the_broker_is_down_is_kept_and_the_sweeper_queues_it(
    api: Any, market: dict, django_capture_on_commit_callbacks: Any
) -> None:
    down = OperationalError("[Errno 111] Connection refused")
    with (
        mock.patch("leads.tasks.deliver_lead.apply_async", side_effect=down),
        django_capture_on_commit_callbacks(execute=True),
    ):
        answer = direct_post(api, market["key"], "async")

    assert answer["status"] == "pending"
    Lead.objects.filter(pk=answer["lead_id"]).update(
        posted_at=timezone.now() - timedelta(seconds=30)
    )
    with mock.patch("leads.tasks.deliver_lead.delay") as requeue:
        assert sweep_deliveries() == 1
    requeue.assert_called_once_with(answer["lead_id"])


def test_the_sweeper_leaves_fresh_and_leased_leads_alone(api: Any, market: dict) -> None:
    fresh = direct_post(api, market["key"], "async")["lead_id"]
    leased = direct_post(api, market["key"], "async")["lead_id"]
    Lead.objects.filter(pk=leased).update(posted_at=timezone.now() - timedelta(seconds=30))
    acquire_lease(leased, 60)

    with mock.patch("leads.tasks.deliver_lead.delay") as requeue:
        assert sweep_deliveries() == 0
    requeue.assert_not_called()
    assert Lead.objects.filter(pk__in=[fresh, leased], status="pending").count() == 2


def test_an_open_post_circuit_sends_the_lead_to_the_next_bidder_without_a_call(
    api: Any, market: dict
) -> None:
    endpoint = Endpoint.objects.get(campaign__slug="first", kind="post")
    CircuitState.objects.create(
        endpoint=endpoint,
        status=CircuitStatus.OPEN,
        opened_at=timezone.now(),
        retry_at=timezone.now() + timedelta(seconds=30),
    )

    answer = direct_post(api, market["key"], "sync")

    assert answer["status"] == "sold"
    assert market["first"].posts == []
    first = Delivery.objects.get(lead_id=answer["lead_id"], campaign__slug="first")
    assert (first.status, first.last_outcome) == ("skipped", "circuit_open")
    log = TransactionLog.objects.get(lead_id=answer["lead_id"], campaign__slug="first", kind="post")
    assert log.outcome == "circuit_open"


def test_post_outcomes_move_the_post_circuit(api: Any, market: dict) -> None:
    from buyers.circuits import limit
    from buyers.models import Campaign

    market["first"].status = 500
    campaign = Campaign.objects.get(slug="first")
    campaign.max_attempts = 1
    campaign.save()

    for _ in range(limit("CIRCUIT_FAILURES")):
        direct_post(api, market["key"], "sync")

    state = CircuitState.objects.get(endpoint__campaign__slug="first", endpoint__kind="post")
    assert state.status == CircuitStatus.OPEN


def test_test_leads_never_touch_circuits(api: Any, market: dict) -> None:
    _, test_key = make_publisher("tester", kind="test")
    for endpoint in Endpoint.objects.filter(kind="post"):
        endpoint.test_url = endpoint.url
        endpoint.save()
    market["first"].status = 500

    direct_post(api, test_key, "sync")

    assert len(market["first"].posts) == 1
    assert not CircuitState.objects.exists()


def test_a_lead_left_unfinished_after_its_last_delivery_closed_is_finished_by_the_sweeper(
    api: Any, market: dict
) -> None:
    lead_id = direct_post(api, market["key"], "async")["lead_id"]
    # The walker closed every delivery, then died before finishing the lead.
    Delivery.objects.filter(lead_id=lead_id).update(status="rejected", reason="no")
    Lead.objects.filter(pk=lead_id).update(posted_at=timezone.now() - timedelta(seconds=30))

    with mock.patch("leads.tasks.deliver_lead.delay") as requeue:
        assert sweep_deliveries() == 1
    assert deliver_lead(lead_id) == "rejected"

    requeue.assert_called_once_with(lead_id)
    assert Lead.objects.get(pk=lead_id).reasons == ["all_buyers_rejected"]
