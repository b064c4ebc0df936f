"""Circuit breakers per endpoint, kept in the database for every process (SPEC §6)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from buyers.choices import CircuitStatus
from buyers.circuits import limit, open_endpoints, record_outcomes
from buyers.models import CircuitEvent, CircuitState, Endpoint
from leads.models import TransactionLog
from tests.factories import PING_LEAD, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(buyer_server: Any) -> Endpoint:
    vertical = make_vertical()
    url = buyer_server.url_for
    campaign = make_campaign(vertical, "flaky", ping_url=url("/ping"), post_url=url("/post"))
    return campaign.endpoints.get(kind="ping")


def state(endpoint: Endpoint) -> CircuitState:
    return CircuitState.objects.get(endpoint=endpoint)


def history(endpoint: Endpoint) -> list[tuple[str, str]]:
    events = CircuitEvent.objects.filter(endpoint=endpoint).order_by("at", "id")
    return list(events.values_list("from_status", "to_status"))


def fail(endpoint: Endpoint, times: int = 1, outcome: str = "timeout") -> None:
    for _ in range(times):
        record_outcomes([(endpoint.pk, outcome)])


def open_it(endpoint: Endpoint) -> None:
    fail(endpoint, limit("CIRCUIT_FAILURES"))


def cool_down_over(endpoint: Endpoint) -> None:
    CircuitState.objects.filter(endpoint=endpoint).update(
        retry_at=timezone.now() - timedelta(seconds=1)
    )


def test_it_opens_after_consecutive_failures_and_is_skipped(endpoint: Endpoint) -> None:
    fail(endpoint, limit("CIRCUIT_FAILURES") - 1)
    assert open_endpoints([endpoint.pk]) == set()

    fail(endpoint)

    assert state(endpoint).status == CircuitStatus.OPEN
    assert open_endpoints([endpoint.pk]) == {endpoint.pk}
    assert history(endpoint) == [("closed", "open")]
    assert "consecutive failures" in CircuitEvent.objects.get(endpoint=endpoint).reason


def test_a_success_resets_the_failure_streak(endpoint: Endpoint) -> None:
    fail(endpoint, limit("CIRCUIT_FAILURES") - 1)
    record_outcomes([(endpoint.pk, "accepted")])
    fail(endpoint, limit("CIRCUIT_FAILURES") - 1)

    assert state(endpoint).status == CircuitStatus.CLOSED


def test_a_batch_of_many_calls_counts_each_failure_in_order(endpoint: Endpoint) -> None:
    streak = limit("CIRCUIT_FAILURES")
    # Many pings' calls written together: a success restarts the count from what follows.
    record_outcomes([(endpoint.pk, "timeout")] * (streak - 1) + [(endpoint.pk, "accepted")])
    record_outcomes([(endpoint.pk, "timeout")] * (streak - 1))
    assert state(endpoint).consecutive_failures == streak - 1

    record_outcomes([(endpoint.pk, "accepted"), (endpoint.pk, "timeout")])
    assert state(endpoint).consecutive_failures == 1

    record_outcomes([(endpoint.pk, "timeout")] * (streak - 1))
    assert state(endpoint).status == CircuitStatus.OPEN


def test_a_buyer_saying_no_is_not_a_failure(endpoint: Endpoint) -> None:
    fail(endpoint, limit("CIRCUIT_FAILURES"), outcome="rejected")

    assert not CircuitState.objects.filter(status=CircuitStatus.OPEN).exists()


@pytest.mark.parametrize("outcome", ["transport_error", "http_error", "bad_response"])
def test_every_failure_class_counts(endpoint: Endpoint, outcome: str) -> None:
    fail(endpoint, limit("CIRCUIT_FAILURES"), outcome=outcome)

    assert state(endpoint).status == CircuitStatus.OPEN


def test_it_opens_when_failures_pass_the_ratio_within_the_window(
    endpoint: Endpoint, settings: Any
) -> None:
    settings.SWITCHYARD = {
        **settings.SWITCHYARD,
        "CIRCUIT_MIN_CALLS": 10,
        "CIRCUIT_FAILURE_RATIO": 0.5,
        "CIRCUIT_RATIO_CHECK_SECONDS": 0,  # read the ratio on every failure
    }

    def logged(outcome: str, ago: float = 1) -> None:
        TransactionLog.objects.create(
            campaign_id=endpoint.campaign_id,
            kind="ping",
            url=endpoint.url,
            outcome=outcome,
            created_at=timezone.now() - timedelta(seconds=ago),
        )

    def call(outcome: str) -> None:
        logged(outcome)
        record_outcomes([(endpoint.pk, outcome)])

    for _ in range(10):
        logged("timeout", ago=3600)  # long ago: outside the window
    for _ in range(4):
        call("accepted")
        call("timeout")  # never two in a row
    assert state(endpoint).status == CircuitStatus.CLOSED  # 4 of 8: too few calls yet

    call("accepted")
    call("timeout")

    assert state(endpoint).status == CircuitStatus.OPEN
    assert "5 of 10 calls failed" in CircuitEvent.objects.get(endpoint=endpoint).reason


def test_after_the_cool_down_exactly_one_probe_is_let_through(endpoint: Endpoint) -> None:
    open_it(endpoint)
    cool_down_over(endpoint)

    first, second, third = (open_endpoints([endpoint.pk]) for _ in range(3))

    assert (first, second, third) == (set(), {endpoint.pk}, {endpoint.pk})
    assert state(endpoint).status == CircuitStatus.HALF_OPEN


def test_a_successful_probe_closes_the_circuit(endpoint: Endpoint) -> None:
    open_it(endpoint)
    cool_down_over(endpoint)
    open_endpoints([endpoint.pk])

    record_outcomes([(endpoint.pk, "accepted")])

    assert state(endpoint).status == CircuitStatus.CLOSED
    assert open_endpoints([endpoint.pk]) == set()
    assert history(endpoint) == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_failed_probe_opens_it_for_another_cool_down(endpoint: Endpoint) -> None:
    open_it(endpoint)
    cool_down_over(endpoint)
    open_endpoints([endpoint.pk])

    fail(endpoint)

    assert state(endpoint).status == CircuitStatus.OPEN
    assert state(endpoint).retry_at > timezone.now() + timedelta(seconds=1)
    assert open_endpoints([endpoint.pk]) == {endpoint.pk}


def test_a_probe_whose_process_died_is_taken_over_after_a_cool_down(endpoint: Endpoint) -> None:
    open_it(endpoint)
    cool_down_over(endpoint)
    open_endpoints([endpoint.pk])  # claimed, then its process died
    cool_down_over(endpoint)

    assert open_endpoints([endpoint.pk]) == set()


def test_calls_that_were_in_flight_when_it_opened_change_nothing(endpoint: Endpoint) -> None:
    open_it(endpoint)
    retry_at = state(endpoint).retry_at

    record_outcomes([(endpoint.pk, "accepted"), (endpoint.pk, "timeout")])
    record_outcomes([(endpoint.pk, "accepted")])

    assert (state(endpoint).status, state(endpoint).retry_at) == (CircuitStatus.OPEN, retry_at)


def test_healthy_traffic_writes_nothing(endpoint: Endpoint, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        record_outcomes([(endpoint.pk, "accepted"), (endpoint.pk + 1000, "rejected")])


def test_the_auction_skips_a_campaign_whose_ping_circuit_is_open(
    api: Any, endpoint: Endpoint, buyer_server: Any
) -> None:
    _, key = make_publisher()
    open_it(endpoint)

    answer = api.post(
        "/api/v1/ping",
        {"vertical": "auto-insurance", "lead": PING_LEAD},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    assert answer.json()["reasons"] == ["no_eligible_buyers"]
    assert not [r for r, _ in buyer_server.log if r.path == "/ping"]


def test_failing_pings_open_the_ping_circuit(
    api: Any, endpoint: Endpoint, buyer_server: Any
) -> None:
    from werkzeug import Response

    _, key = make_publisher()
    buyer_server.expect_request("/ping").respond_with_handler(lambda r: Response("", 503))
    for _ in range(limit("CIRCUIT_FAILURES")):
        api.post(
            "/api/v1/ping",
            {"vertical": "auto-insurance", "lead": PING_LEAD},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    assert state(endpoint).status == CircuitStatus.OPEN


@pytest.fixture
def manager(client: Any) -> Any:
    client.force_login(User.objects.create_superuser("am", "am@example.com", "pw"))
    return client


def test_the_admin_shows_a_circuit_with_its_history(manager: Any, endpoint: Endpoint) -> None:
    open_it(endpoint)

    listing = manager.get("/admin/buyers/circuitstate/?status__exact=open")
    detail = manager.get(f"/admin/buyers/circuitstate/{state(endpoint).pk}/change/")

    assert listing.context["cl"].result_count == 1
    assert "consecutive failures" in detail.content.decode()


def test_an_account_manager_can_close_a_circuit(manager: Any, endpoint: Endpoint) -> None:
    open_it(endpoint)

    manager.post(
        "/admin/buyers/circuitstate/",
        {"action": "close_now", "_selected_action": [state(endpoint).pk]},
    )

    assert state(endpoint).status == CircuitStatus.CLOSED
    assert CircuitEvent.objects.filter(to_status="closed", reason="closed by am").exists()
