"""OAuth2 client credentials on the ping path, against a real local buyer server: one
token shared by every call, renewed once when the buyer refuses it, never reused once
the credential names another client."""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal as D
from typing import Any

import pytest
from werkzeug import Request, Response

from buyers import auth
from buyers.models import Campaign, Credential
from tests.buyers.test_admin import buyer_form
from tests.factories import make_campaign, make_publisher, make_vertical
from tests.factories import ping as send_ping

pytestmark = pytest.mark.django_db


class Buyer:
    """The buyer's token endpoint (issues tok-1, tok-2...) and its ping API, which
    answers 401 to a token it has revoked or never issued."""

    def __init__(self) -> None:
        self.token_requests: list[Request] = []
        self.pings: list[Request] = []
        self.revoked: set[str] = set()
        self.token_delay = 0.0

    def token(self, request: Request) -> Response:
        self.token_requests.append(request)
        time.sleep(self.token_delay)
        token = f"tok-{len(self.token_requests)}"
        return Response(json.dumps({"access_token": token, "expires_in": 3600}))

    def ping(self, request: Request) -> Response:
        self.pings.append(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        issued = {f"tok-{n}" for n in range(1, len(self.token_requests) + 1)}
        if token not in issued or token in self.revoked:
            return Response('{"error": "invalid_token"}', 401, content_type="application/json")
        body = {"result": "accepted", "bid": "20.00", "bid_id": "O-1"}
        return Response(json.dumps(body), content_type="application/json")

    def tokens_sent(self) -> list[str]:
        return [p.headers["Authorization"].removeprefix("Bearer ") for p in self.pings]

    def client_ids(self) -> list[str]:
        return [
            base64.b64decode(r.headers["Authorization"].removeprefix("Basic ")).decode()
            for r in self.token_requests
        ]


@pytest.fixture
def buyer(buyer_server: Any) -> Buyer:
    buyer = Buyer()
    buyer_server.expect_request("/token", method="POST").respond_with_handler(buyer.token)
    buyer_server.expect_request("/ping").respond_with_handler(buyer.ping)
    return buyer


@pytest.fixture
def market(buyer_server: Any, buyer: Buyer) -> dict[str, Any]:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    url = buyer_server.url_for
    campaign = make_campaign(vertical, "oauthco", ping_url=url("/ping"), post_url=url("/post"))
    credential = Credential.objects.create(
        buyer=campaign.buyer,
        name="oauth",
        type="oauth2",
        token_url=buyer_server.url_for("/token"),
        client_id="switchyard",
        secret="client-secret",
    )
    campaign.endpoints.update(credential=credential)
    # A token cached by another test for a credential with the same id must not leak in.
    auth.forget_oauth2_token(credential)
    return {"key": key, "vertical": vertical, "campaign": campaign, "credential": credential}


def ping(api: Any, key: str) -> dict[str, Any]:
    answer = send_ping(api, key)
    assert answer.status_code == 200
    return answer.json()


def test_a_ping_refused_for_a_revoked_token_is_sent_again_with_a_fresh_one(
    api: Any, market: dict, buyer: Buyer
) -> None:
    buyer.revoked.add("tok-1")

    answer = ping(api, market["key"])

    assert answer["status"] == "accepted"
    assert answer["price"] == "16.00"  # 80% of the buyer's 20.00
    assert len(buyer.token_requests) == 2
    assert buyer.tokens_sent() == ["tok-1", "tok-2"]
    # The renewed token is the shared one: the next ping neither fetches nor retries.
    assert ping(api, market["key"])["status"] == "accepted"
    assert len(buyer.token_requests) == 2
    assert buyer.tokens_sent()[2:] == ["tok-2"]


def test_a_buyer_refusing_every_token_gets_one_more_try_and_no_lead(
    api: Any, market: dict, buyer: Buyer
) -> None:
    buyer.revoked.update({"tok-1", "tok-2", "tok-3"})

    answer = ping(api, market["key"])

    assert answer["status"] == "rejected"
    assert len(buyer.token_requests) == 2
    assert buyer.tokens_sent() == ["tok-1", "tok-2"]


def test_a_slow_token_endpoint_costs_no_more_than_the_ping_timeout(
    api: Any, market: dict, buyer: Buyer, buyer_server: Any
) -> None:
    buyer_server.expect_request("/other/ping").respond_with_json(
        {"result": "accepted", "bid": "10.00", "bid_id": "F-1"}
    )
    url = buyer_server.url_for
    make_campaign(market["vertical"], "fast", ping_url=url("/other/ping"), post_url=url("/post"))
    ping(api, market["key"])  # tok-1 is cached
    buyer.revoked.add("tok-1")
    buyer.token_delay = 2.0

    started = time.perf_counter()
    answer = ping(api, market["key"])

    assert time.perf_counter() - started < 1.5  # the ping timeout is 300 ms
    assert (answer["status"], answer["price"]) == ("accepted", "8.00")  # the other buyer
    assert buyer.tokens_sent() == ["tok-1", "tok-1"]  # no retry after the deadline


def test_a_credential_moved_to_another_client_never_reuses_the_old_clients_token(
    api: Any, market: dict, buyer: Buyer, client: Any, django_user_model: Any
) -> None:
    client.force_login(django_user_model.objects.create_superuser("al", "al@example.com", "pw"))
    campaign: Campaign = market["campaign"]
    credential: Credential = market["credential"]
    assert ping(api, market["key"])["status"] == "accepted"

    changed = client.post(
        f"/admin/buyers/buyer/{campaign.buyer_id}/change/",
        buyer_form(
            campaign.buyer,
            credential,
            **{
                "credentials-0-token_url": credential.token_url,
                "credentials-0-client_id": "switchyard-eu",
                "credentials-0-scope": "",
            },
        ),
    )
    assert changed.status_code == 302
    assert ping(api, market["key"])["status"] == "accepted"

    assert buyer.client_ids() == ["switchyard:client-secret", "switchyard-eu:client-secret"]
    assert buyer.tokens_sent() == ["tok-1", "tok-2"]
