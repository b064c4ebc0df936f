"""/metrics: 401 without the token; with it, Prometheus text whose figures match the
traffic sent."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from django.db.models import Count
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from buyers.models import CircuitState, Endpoint
from leads.models import Lead, TransactionLog
from tests.reporting.traffic import build_market, send

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"


@pytest.fixture(autouse=True)
def token(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_without_the_right_token_are_401(client: Any, settings: Any) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthenticated"
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_metrics_answer_another_method_with_a_json_405_not_csrf_html() -> None:
    client = Client(enforce_csrf_checks=True)
    answer = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in answer["Allow"]


def test_metrics_count_the_traffic_sent(client: Any, api: Any, buyer_server: Any) -> None:
    market = build_market(buyer_server)
    before = scrape(client)
    mix = [
        ("acme", "good", "post"),
        ("acme", "excellent", "post"),
        ("acme", "poor", "ping"),
        ("acme", "fair", "ping"),
        ("zeta", "good", "direct"),
    ]
    sold = send(api, market, mix * 2, start=1)
    after = scrape(client)

    assert (
        delta(before, after, "switchyard_pings_total", outcome="accepted") == 6
    )  # good/excellent/fair
    assert delta(before, after, "switchyard_pings_total", outcome="rejected") == 2  # poor
    assert delta(before, after, "switchyard_posts_total", outcome="sold") == len(sold) == 6
    # Every call logged is counted under its buyer, kind and outcome, and timed.
    logged = TransactionLog.objects.values_list(
        "campaign__buyer__slug", "kind", "outcome"
    ).annotate(n=Count("id"))
    assert len(logged) >= 5
    for buyer, kind, outcome, n in logged:
        labels = {"buyer": buyer, "kind": kind}
        assert delta(before, after, "switchyard_buyer_calls_total", **labels, outcome=outcome) == n
    # Crash's circuit opened after its fifth 500: later pings skip it, and are not calls.
    assert (
        delta(
            before,
            after,
            "switchyard_buyer_calls_total",
            buyer="crash-buyer",
            kind="ping",
            outcome="http_error",
        )
        == 5
    )
    assert (
        delta(
            before,
            after,
            "switchyard_buyer_calls_total",
            buyer="bolt-buyer",
            kind="post",
            outcome="rejected",
        )
        == 2
    )
    timed = TransactionLog.objects.filter(campaign__buyer__slug="summit", kind="ping")
    assert (
        delta(before, after, "switchyard_buyer_call_seconds_count", buyer="summit", kind="ping")
        == timed.count()
        == 8
    )
    fast = timed.filter(duration_ms__lte=1000).count()
    assert (
        delta(
            before,
            after,
            "switchyard_buyer_call_seconds_bucket",
            buyer="summit",
            kind="ping",
            le="1.0",
        )
        == fast
    )
    assert after[("switchyard_outbox_depth", ())] == 0
    assert Lead.objects.count() == 10


def test_gauges_read_the_database(client: Any, api: Any, buyer_server: Any) -> None:
    market = build_market(buyer_server)
    endpoint = Endpoint.objects.get(campaign=market.campaigns["crash"], kind="ping")
    CircuitState.objects.update_or_create(endpoint=endpoint, defaults={"status": "open"})
    samples = scrape(client)
    assert samples[("switchyard_circuits_open", (("status", "open"),))] == 1
    assert samples[("switchyard_campaigns_paused", ())] == 0


def test_a_scrape_while_the_database_is_down_is_a_json_503(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_gone(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    # The gauges' first query goes through the queryset's aggregate.
    monkeypatch.setattr("django.db.models.query.QuerySet.aggregate", database_gone)
    answer = Client(raise_request_exception=False).get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )

    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"
    assert answer["Retry-After"]
