"""A dependency down is a JSON 503 with Retry-After on every API path, never a 500; a
sale whose final write meets a dropped connection is written on a fresh one."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import OperationalError, connection
from werkzeug import Response

from leads.models import Delivery, Lead, LedgerEntry, TransactionLog
from tests.factories import direct_post, make_campaign, make_publisher, make_vertical, ping

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="kills a PostgreSQL backend mid-request"
)


def assert_unavailable(answer: Any) -> None:
    assert answer.status_code == 503, answer.content
    assert answer["Content-Type"] == "application/json"
    assert answer.json()["error"]["code"] == "unavailable"
    assert int(answer["Retry-After"]) > 0


@pytest.mark.django_db
def test_a_database_error_in_any_api_view_is_a_json_503(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_vertical()
    _, key = make_publisher()

    def database_gone(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("exchange.api.base.get_config", database_gone)

    assert_unavailable(ping(api, key))
    assert_unavailable(api.get("/api/v1/buyer/leads", HTTP_AUTHORIZATION="Bearer sy_buyer_x"))


@pytest.mark.django_db
def test_a_broker_error_in_an_api_view_is_a_json_503(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.exceptions import OperationalError as BrokerDown

    def broker_gone(*args: Any, **kwargs: Any) -> Any:
        raise BrokerDown("[Errno 111] Connection refused")

    monkeypatch.setattr("exchange.api.base.get_config", broker_gone)

    assert_unavailable(api.get("/api/v1/leads/x", HTTP_AUTHORIZATION="Bearer sy_live_x"))


def killer(victim_pid: int) -> Any:
    """A second connection that ends the request's database backend, as a failover would."""
    import psycopg2

    params = connection.get_connection_params()

    def kill() -> None:
        with psycopg2.connect(**params) as other, other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [victim_pid])
        other.close()

    return kill


def request_backend_pid() -> int:
    connection.ensure_connection()
    return connection.connection.get_backend_pid()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_database_connection_killed_mid_ping_answers_a_json_503(
    api: Any, buyer_server: Any
) -> None:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    kill = killer(request_backend_pid())

    def bid_and_kill(request: Any) -> Response:
        kill()  # while the exchange waits for this buyer, its connection dies
        body = {"result": "accepted", "bid": "20.00", "bid_id": "R"}
        return Response(json.dumps(body), content_type="application/json")

    buyer_server.expect_request("/ping").respond_with_handler(bid_and_kill)
    make_campaign(
        vertical,
        "b",
        ping_url=buyer_server.url_for("/ping"),
        post_url=buyer_server.url_for("/post"),
        timeout_ms=2000,
    )

    answer = ping(api, key)

    assert_unavailable(answer)
    connection.close()
    assert Lead.objects.count() == 0  # nothing half-written; the publisher may ping again
    assert ping(api, key).json()["status"] == "accepted"


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_sale_whose_connection_dies_during_the_post_is_written_on_a_fresh_one(
    api: Any, buyer_server: Any
) -> None:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    kill = killer(request_backend_pid())

    def accept_and_kill(request: Any) -> Response:
        kill()  # the buyer accepts; meanwhile the exchange's connection is cut
        return Response('{"status": "ok", "lead_id": "B-7"}', content_type="application/json")

    buyer_server.expect_request("/post").respond_with_handler(accept_and_kill)
    make_campaign(
        vertical,
        "b",
        post_url=buyer_server.url_for("/post"),
        pricing_model="fixed",
        fixed_price="25.00",
    )

    answer = direct_post(api, key)

    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "sold"
    lead = Lead.objects.get(pk=answer.json()["lead_id"])
    assert (lead.status, lead.price) == ("sold", D("25.0000"))
    assert LedgerEntry.objects.filter(lead=lead, kind="sale").count() == 1
    assert TransactionLog.objects.filter(lead=lead, kind="post").count() == 1
    assert Delivery.objects.get(lead=lead).status == "accepted"
    assert len(buyer_server.log) == 1
