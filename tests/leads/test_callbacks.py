"""Signed publisher callbacks: sent once per final status, retried like deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone
from werkzeug import Request, Response

from exchange.models import Publisher
from leads.callbacks import due_callbacks
from leads.models import PublisherCallback, TransactionLog
from leads.tasks import send_publisher_callback
from tests.factories import POST_LEAD, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db


class Hook:
    """The publisher's callback endpoint, answering from a script (last entry repeats)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses) or [200]
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        return Response("ok", self.statuses[min(len(self.requests), len(self.statuses)) - 1])


@pytest.fixture
def hook(buyer_server: Any) -> Hook:
    hook = Hook()
    buyer_server.expect_request("/hook").respond_with_handler(hook)
    return hook


@pytest.fixture
def setup(buyer_server: Any, hook: Hook) -> dict[str, Any]:
    vertical = make_vertical()
    publisher, key = make_publisher(callback_url=buyer_server.url_for("/hook"))
    buyer_server.expect_request("/ping").respond_with_json(
        {"result": "accepted", "bid": "20.00", "bid_id": "R"}
    )
    setup_answer = {"post": {"status": "ok"}}
    buyer_server.expect_request("/post").respond_with_handler(
        lambda r: Response(json.dumps(setup_answer["post"]), content_type="application/json")
    )
    make_campaign(
        vertical,
        "buyer",
        ping_url=buyer_server.url_for("/ping"),
        post_url=buyer_server.url_for("/post"),
    )
    return {"publisher": publisher, "key": key, "answer": setup_answer}


def sell(api: Any, key: str) -> str:
    body = {"vertical": "auto-insurance", "lead": POST_LEAD}
    answer = api.post("/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")
    return answer.json()["lead_id"]


def send(callback: PublisherCallback) -> str:
    """What the worker does when the callback is due (no waiting in tests)."""
    PublisherCallback.objects.filter(pk=callback.pk, status="retry").update(
        next_attempt_at=timezone.now()
    )
    return send_publisher_callback(str(callback.pk))


def test_a_sale_sends_the_publisher_a_callback_signed_with_its_own_secret(
    api: Any, setup: dict, hook: Hook, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        mock.patch("leads.tasks.send_publisher_callback.apply_async") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        lead_id = sell(api, setup["key"])
    callback = PublisherCallback.objects.get(lead_id=lead_id)
    enqueue.assert_called_once_with((str(callback.pk),), eta=None)

    assert send(callback) == "accepted"

    (request,) = hook.requests
    body = request.get_data()
    secret = Publisher.objects.get(pk=setup["publisher"].pk).callback_secret
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert request.headers["X-Switchyard-Signature"] == expected
    payload = json.loads(body)
    assert payload["lead_id"] == lead_id
    assert (payload["status"], payload["price"]) == ("sold", "16.00")
    assert "first_name" not in body.decode() and "Ann" not in body.decode()


def test_publishers_have_different_secrets(setup: dict) -> None:
    other, _ = make_publisher("other")

    assert other.callback_secret and setup["publisher"].callback_secret
    assert other.callback_secret != setup["publisher"].callback_secret


def test_a_rejected_lead_is_called_back_with_its_reasons(api: Any, setup: dict, hook: Hook) -> None:
    setup["answer"]["post"] = {"status": "no"}
    lead_id = sell(api, setup["key"])

    send(PublisherCallback.objects.get(lead_id=lead_id))

    payload = json.loads(hook.requests[0].get_data())
    assert (payload["status"], payload["reasons"]) == ("rejected", ["all_buyers_rejected"])


def test_a_failing_callback_is_retried_with_every_attempt_logged(
    api: Any, setup: dict, hook: Hook
) -> None:
    hook.statuses = [503, 500, 200]
    callback = PublisherCallback.objects.get(lead_id=sell(api, setup["key"]))

    outcomes = [send(callback) for _ in range(3)]

    assert outcomes == ["http_error", "http_error", "accepted"]
    callback.refresh_from_db()
    assert (callback.status, callback.attempts) == ("accepted", 3)
    logged = TransactionLog.objects.filter(lead_id=callback.lead_id, kind="callback")
    assert sorted(logged.values_list("attempt", "status_code")) == [(1, 503), (2, 500), (3, 200)]
    assert {r.headers["Idempotency-Key"] for r in hook.requests} == {f"callback:{callback.pk}"}


def test_a_retry_waits_for_its_backoff(api: Any, setup: dict, hook: Hook) -> None:
    hook.statuses = [503]
    callback = PublisherCallback.objects.get(lead_id=sell(api, setup["key"]))

    send_publisher_callback(str(callback.pk))
    callback.refresh_from_db()
    assert send_publisher_callback(str(callback.pk)) == "not_claimed"

    assert callback.status == "retry"
    assert callback.next_attempt_at > timezone.now() + timedelta(seconds=1)
    assert len(hook.requests) == 1


def test_a_callback_refused_with_a_4xx_is_not_retried(api: Any, setup: dict, hook: Hook) -> None:
    hook.statuses = [404]
    callback = PublisherCallback.objects.get(lead_id=sell(api, setup["key"]))

    send(callback)
    send(callback)

    callback.refresh_from_db()
    assert (callback.status, callback.attempts) == ("failed", 1)
    assert len(hook.requests) == 1


def test_a_callback_gives_up_after_its_attempts(api: Any, setup: dict, hook: Hook) -> None:
    hook.statuses = [503]
    callback = PublisherCallback.objects.get(lead_id=sell(api, setup["key"]))

    for _ in range(callback.max_attempts + 2):
        send(callback)

    callback.refresh_from_db()
    assert (callback.status, callback.attempts) == ("failed", callback.max_attempts)
    assert len(hook.requests) == callback.max_attempts


def test_duplicate_callback_tasks_send_once(api: Any, setup: dict, hook: Hook) -> None:
    callback = PublisherCallback.objects.get(lead_id=sell(api, setup["key"]))

    results = [send_publisher_callback(str(callback.pk)) for _ in range(20)]

    assert results.count("accepted") == 1
    assert len(hook.requests) == 1


def test_without_a_callback_url_nothing_is_queued(api: Any, setup: dict) -> None:
    Publisher.objects.filter(pk=setup["publisher"].pk).update(callback_url="")

    lead_id = sell(api, setup["key"])

    assert not PublisherCallback.objects.filter(lead_id=lead_id).exists()


def test_the_sweeper_finds_callbacks_nobody_sent(api: Any, setup: dict) -> None:
    callback = PublisherCallback.objects.get(lead_id=sell(api, setup["key"]))
    later = timezone.now() + timedelta(seconds=15)  # the enqueue after commit was lost

    assert due_callbacks(timezone.now()) == []  # just queued: its task is on the way
    assert due_callbacks(later) == [callback.pk]


def test_a_callback_whose_sender_died_is_sent_again(api: Any, setup: dict, hook: Hook) -> None:
    callback = PublisherCallback.objects.get(lead_id=sell(api, setup["key"]))
    PublisherCallback.objects.filter(pk=callback.pk).update(
        status="sending", attempts=1, claimed_at=timezone.now() - timedelta(minutes=5)
    )

    assert due_callbacks(timezone.now()) == [callback.pk]
    assert send_publisher_callback(str(callback.pk)) == "accepted"
    assert len(hook.requests) == 1


def test_callbacks_and_their_attempts_are_visible_in_the_admin(
    api: Any, setup: dict, hook: Hook, client: Any
) -> None:
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("am", "am@example.com", "pw"))
    hook.statuses = [503]
    callback = PublisherCallback.objects.get(lead_id=sell(api, setup["key"]))
    send(callback)

    listing = client.get("/admin/leads/publishercallback/?status__exact=retry")
    lead_page = client.get(f"/admin/leads/lead/{callback.lead_id}/change/")

    assert listing.context["cl"].result_count == 1
    assert "HTTP 503" in lead_page.content.decode()


@pytest.fixture
def manager(client: Any, django_user_model: Any) -> Any:
    client.force_login(django_user_model.objects.create_superuser("am", "am@example.com", "pw"))
    return client


def shown_secret(manager: Any, publisher: Publisher) -> str:
    """The callback secret as the account manager reads it on the publisher's page."""
    page = manager.get(f"/admin/exchange/publisher/{publisher.pk}/change/").content.decode()
    match = re.search(
        r'field-callback_secret_display">.*?<div class="readonly">([^<]*)</div>', page, re.S
    )
    assert match, "no callback secret on the publisher's page"
    return match.group(1)


def change_form(publisher: Publisher, **changes: Any) -> dict[str, Any]:
    """What the publisher's change form posts as it is, with ``changes`` applied."""
    keys = list(publisher.keys.order_by("pk"))
    data: dict[str, Any] = {
        "name": publisher.name,
        "slug": publisher.slug,
        "is_active": "on",
        "payout_model": publisher.payout_model,
        "payout_percent": publisher.payout_percent,
        "payout_amount": publisher.payout_amount,
        "floor": publisher.floor,
        "allowed_ips": "[]",
        "rate_limit": "",
        "callback_url": publisher.callback_url,
        "keys-TOTAL_FORMS": len(keys),
        "keys-INITIAL_FORMS": len(keys),
        "keys-MIN_NUM_FORMS": 0,
        "keys-MAX_NUM_FORMS": 0,
    }
    for index, key in enumerate(keys):
        data[f"keys-{index}-id"] = key.pk
        data[f"keys-{index}-publisher"] = publisher.pk
    return {**data, **changes}


def test_the_account_manager_reads_the_callback_secret_but_cannot_type_one(
    setup: dict, manager: Any
) -> None:
    publisher = setup["publisher"]

    assert shown_secret(manager, publisher) == publisher.callback_secret
    saved = manager.post(
        f"/admin/exchange/publisher/{publisher.pk}/change/",
        change_form(publisher, callback_secret="typed-by-hand"),
    )

    assert saved.status_code == 302
    assert Publisher.objects.get(pk=publisher.pk).callback_secret == publisher.callback_secret
    assert (
        "Made when the publisher is saved."
        in manager.get("/admin/exchange/publisher/add/").content.decode()
    )


def test_a_rotated_callback_secret_signs_the_next_callbacks(
    api: Any, setup: dict, hook: Hook, manager: Any
) -> None:
    publisher = setup["publisher"]
    old_secret = shown_secret(manager, publisher)

    answer = manager.post(
        "/admin/exchange/publisher/",
        {"action": "rotate_callback_secret", "_selected_action": [publisher.pk]},
        follow=True,
    )

    assert "New callback secret for Acme" in answer.content.decode()
    new_secret = shown_secret(manager, publisher)
    assert new_secret != old_secret and len(new_secret) >= 32
    send(PublisherCallback.objects.get(lead_id=sell(api, setup["key"])))
    (request,) = hook.requests
    body = request.get_data()
    signed = "sha256=" + hmac.new(new_secret.encode(), body, hashlib.sha256).hexdigest()
    assert request.headers["X-Switchyard-Signature"] == signed


def test_a_callback_url_typed_without_a_scheme_is_saved_as_https(setup: dict, manager: Any) -> None:
    publisher = setup["publisher"]

    manager.post(
        f"/admin/exchange/publisher/{publisher.pk}/change/",
        change_form(publisher, callback_url="hooks.acme.example/switchyard"),
    )

    publisher.refresh_from_db()
    assert publisher.callback_url == "https://hooks.acme.example/switchyard"
