"""Outbound safety (SPEC §4): refused addresses at save, on import and at connect; no
redirects followed; the test console shows a refusal, never the refused host's answer."""

from __future__ import annotations

import html
import json
import socket
from decimal import Decimal as D
from typing import Any

import pytest
from werkzeug import Response

from buyers import auth
from buyers.models import Campaign, Credential, Endpoint
from buyers.outbound_guard import refusal_for_address
from exchange.configfile import ConfigFileError, import_config
from exchange.models import Publisher
from leads.models import Bid
from tests.buyers.test_admin import form_data
from tests.factories import make_campaign, make_publisher, make_vertical, ping

pytestmark = pytest.mark.django_db

REFUSED_URLS = [
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://10.20.30.40/ping", "private"),
    ("http://[::1]:8000/ping", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("http://100.64.0.7/ping", "CGNAT"),
    ("http://0.0.0.0:8000/", "unspecified"),
]


@pytest.fixture
def manager(client: Any, django_user_model: Any) -> Any:
    client.force_login(django_user_model.objects.create_superuser("alice", "a@example.com", "pw"))
    return client


@pytest.fixture
def loopback_name(monkeypatch: pytest.MonkeyPatch) -> str:
    """A DNS name that resolves to 127.0.0.1 (through the resolver's getaddrinfo seam)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "loopback.test":
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "loopback.test"


def test_every_kind_of_internal_address_is_refused_and_public_ones_are_not(settings: Any) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    for address, what in [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("fe80::1", "link-local"),
        ("192.168.1.1", "private"),
        ("172.16.5.4", "private"),
        ("fc00::5", "private"),
        ("100.100.100.200", "cloud metadata"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("2002:0a00:0001::1", "private"),  # 6to4 of 10.0.0.1
    ]:
        assert what in refusal_for_address(address), address
    for address in ("203.0.113.9", "8.8.8.8", "2606:4700::1111"):
        assert refusal_for_address(address) == "", address


def test_the_allowed_networks_setting_opens_a_range_and_nothing_else(settings: Any) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.9.0.0/16"]

    assert refusal_for_address("10.9.8.7") == ""
    assert refusal_for_address("::ffff:10.9.8.7") == ""
    assert "private" in refusal_for_address("10.10.0.1")
    assert "loopback" in refusal_for_address("127.0.0.1")


@pytest.mark.parametrize(("url", "what"), REFUSED_URLS)
def test_the_admin_refuses_an_endpoint_at_an_internal_address(
    manager: Any, url: str, what: str
) -> None:
    campaign = make_campaign(
        make_vertical(),
        "summit",
        ping_url="https://buyer.example/ping",
        post_url="https://buyer.example/post",
    )

    answer = manager.post(
        f"/admin/buyers/campaign/{campaign.pk}/change/",
        form_data(campaign, **{"endpoints-0-url": url}),
    )

    assert answer.status_code == 200  # the form again, with its error
    page = html.unescape(answer.content.decode())
    assert "The exchange will not call this URL" in page and what in page
    assert not Endpoint.objects.filter(url=url).exists()


def test_the_admin_refuses_a_test_url_resolving_to_loopback_unless_opened(
    manager: Any, settings: Any, loopback_name: str
) -> None:
    campaign = make_campaign(
        make_vertical(),
        "summit",
        ping_url="https://buyer.example/ping",
        post_url="https://buyer.example/post",
    )
    url = f"http://{loopback_name}:9/sandbox"
    settings.OUTBOUND_ALLOWED_NETWORKS = []

    refused = manager.post(
        f"/admin/buyers/campaign/{campaign.pk}/change/",
        form_data(campaign, **{"endpoints-0-test_url": url}),
    )
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    saved = manager.post(
        f"/admin/buyers/campaign/{campaign.pk}/change/",
        form_data(campaign, **{"endpoints-0-test_url": url}),
    )

    assert "loopback.test resolves to 127.0.0.1 is a loopback address" in html.unescape(
        refused.content.decode()
    )
    assert saved.status_code == 302
    assert Endpoint.objects.filter(campaign=campaign, test_url=url).count() == 1


def config_with(url: str, *, where: str = "endpoint") -> str:
    endpoint = url if where == "endpoint" else "https://buyer.example/post"
    callback = f"\n    callback_url: {url}" if where == "callback" else ""
    auth_block = (
        f"\n          auth: {{type: oauth2, token_url: '{url}', client_id: c, client_secret: s}}"
        if where == "token"
        else ""
    )
    return f"""
verticals:
  - {{slug: solar, name: Solar}}
publishers:
  - slug: acme
    name: Acme{callback}
buyers:
  - slug: summit
    name: Summit
    campaigns:
      - slug: summit-solar
        vertical: solar
        pricing: {{model: fixed, price: "5.00"}}
        post:
          url: '{endpoint}'{auth_block}
"""


@pytest.mark.parametrize(("url", "what"), REFUSED_URLS[:3])
@pytest.mark.parametrize("where", ["endpoint", "callback", "token"])
def test_an_import_refuses_every_outbound_url_at_an_internal_address(
    url: str, what: str, where: str
) -> None:
    with pytest.raises(ConfigFileError) as refused:
        import_config(config_with(url, where=where))

    problems = "\n".join(refused.value.problems)
    assert "The exchange will not call this URL" in problems and what in problems
    assert not Campaign.objects.exists() and not Publisher.objects.exists()
    assert not Credential.objects.exists()


def test_an_import_takes_a_public_url() -> None:
    import_config(config_with("https://buyer.example/post"))

    assert Endpoint.objects.get().url == "https://buyer.example/post"


def bid(price: str) -> Any:
    def handler(request: Any) -> Response:
        body = {"result": "accepted", "bid": price, "bid_id": "R"}
        return Response(json.dumps(body), content_type="application/json")

    return handler


def test_a_name_resolving_to_loopback_is_refused_when_connecting(
    api: Any, buyer_server: Any, settings: Any, loopback_name: str
) -> None:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    buyer_server.expect_request("/sneaky/ping").respond_with_handler(bid("50.00"))
    buyer_server.expect_request("/honest/ping").respond_with_handler(bid("9.00"))
    port = buyer_server.port
    # Saved while the name still looked harmless (or the range was open), then not.
    make_campaign(
        vertical,
        "sneaky",
        ping_url=f"http://{loopback_name}:{port}/sneaky/ping",
        post_url="https://buyer.example/post",
    )
    make_campaign(
        vertical,
        "honest",
        ping_url=buyer_server.url_for("/honest/ping"),
        post_url="https://buyer.example/post",
    )
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # the honest buyer's address only...
    real = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        # ...and the sneaky name now resolves to another loopback address.
        return real("127.0.0.2" if host == loopback_name else host, port, *args, **kwargs)

    socket.getaddrinfo = rebinding  # restored by the fixture's monkeypatch
    try:
        answer = ping(api, key)
    finally:
        socket.getaddrinfo = real

    assert answer.json()["price"] == "7.20"  # the honest 9.00, at 80%
    sneaky = Bid.objects.get(campaign__slug="sneaky")
    assert sneaky.outcome == "transport_error"
    assert "loopback.test resolves to 127.0.0.2 is a loopback address" in sneaky.reason
    assert [r.path for r, _ in buyer_server.log] == ["/honest/ping"]


def test_localhost_is_refused_when_connecting_unless_loopback_is_opened(
    api: Any, buyer_server: Any, settings: Any
) -> None:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    buyer_server.expect_request("/ping").respond_with_handler(bid("20.00"))
    make_campaign(
        vertical,
        "local",
        ping_url=f"http://localhost:{buyer_server.port}/ping",
        post_url="https://buyer.example/post",
    )
    settings.OUTBOUND_ALLOWED_NETWORKS = []

    refused = ping(api, key)
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    taken = ping(api, key)

    assert refused.json()["status"] == "rejected"
    assert "loopback" in Bid.objects.filter(lead_id=refused.json()["ping_id"]).get().reason
    assert taken.json()["price"] == "16.00"
    assert len(buyer_server.log) == 1


def test_a_redirect_from_a_buyer_is_not_followed(api: Any, buyer_server: Any) -> None:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    buyer_server.expect_request("/ping").respond_with_response(
        Response("", status=302, headers={"Location": buyer_server.url_for("/elsewhere")})
    )
    buyer_server.expect_request("/elsewhere").respond_with_handler(bid("20.00"))
    make_campaign(
        vertical,
        "mover",
        ping_url=buyer_server.url_for("/ping"),
        post_url="https://buyer.example/post",
    )

    answer = ping(api, key)

    assert answer.json()["status"] == "rejected"
    assert [r.path for r, _ in buyer_server.log] == ["/ping"]


def test_a_redirect_from_a_token_endpoint_is_not_followed(buyer_server: Any) -> None:
    buyer_server.expect_request("/token").respond_with_response(
        Response("", status=307, headers={"Location": buyer_server.url_for("/real-token")})
    )
    buyer_server.expect_request("/real-token").respond_with_json(
        {"access_token": "stolen", "expires_in": 3600}
    )
    campaign = make_campaign(make_vertical(), "oauth", post_url="https://buyer.example/post")
    credential = Credential.objects.create(
        buyer=campaign.buyer,
        name="o",
        type="oauth2",
        token_url=buyer_server.url_for("/token"),
        client_id="c",
        secret="s",
    )

    with pytest.raises(auth.CredentialError, match="redirects are not followed"):
        auth.fetch_oauth2_token(credential)
    assert [r.path for r, _ in buyer_server.log] == ["/token"]


def test_a_token_url_at_a_refused_address_is_not_called(buyer_server: Any, settings: Any) -> None:
    campaign = make_campaign(make_vertical(), "oauth", post_url="https://buyer.example/post")
    credential = Credential.objects.create(
        buyer=campaign.buyer,
        name="o",
        type="oauth2",
        token_url=buyer_server.url_for("/token"),
        client_id="c",
        secret="s",
    )
    settings.OUTBOUND_ALLOWED_NETWORKS = []

    with pytest.raises(auth.CredentialError, match="127.0.0.1 is a loopback address"):
        auth.fetch_oauth2_token(credential)
    assert buyer_server.log == []


def test_the_console_shows_the_refusal_not_the_answer_of_a_refused_address(
    manager: Any, buyer_server: Any, settings: Any, loopback_name: str
) -> None:
    buyer_server.expect_request("/ping").respond_with_data("INTERNAL SECRET PAGE")
    campaign = make_campaign(
        make_vertical(),
        "summit",
        ping_url=f"http://{loopback_name}:{buyer_server.port}/ping",
        post_url="https://buyer.example/post",
    )
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    lead = {"zip": "75001", "state": "TX", "credit_tier": "good"}

    answer = manager.post(
        f"/admin/buyers/campaign/{campaign.pk}/test-lead/",
        {"target": "ping", "lead": json.dumps(lead), "action": "send"},
    )

    page = html.unescape(answer.content.decode())
    assert "address refused: loopback.test resolves to 127.0.0.1 is a loopback address" in page
    assert "INTERNAL SECRET PAGE" not in page
    assert buyer_server.log == []


def test_a_publisher_callback_to_a_refused_address_is_not_sent_nor_retried(
    api: Any, buyer_server: Any, settings: Any, loopback_name: str
) -> None:
    from leads.models import PublisherCallback
    from leads.tasks import send_publisher_callback
    from tests.factories import direct_post

    vertical = make_vertical()
    _, key = make_publisher(callback_url=f"http://{loopback_name}:{buyer_server.port}/hook")
    buyer_server.expect_request("/hook").respond_with_data("ok")
    buyer_server.expect_request("/post").respond_with_json({"status": "ok"})
    make_campaign(
        vertical,
        "fixed",
        post_url=buyer_server.url_for("/post"),
        pricing_model="fixed",
        fixed_price="10.00",
    )
    assert direct_post(api, key).json()["status"] == "sold"
    callback = PublisherCallback.objects.get()
    settings.OUTBOUND_ALLOWED_NETWORKS = []

    outcome = send_publisher_callback(str(callback.pk))

    callback.refresh_from_db()
    assert (outcome, callback.status) == ("transport_error", "failed")
    assert "loopback.test resolves to 127.0.0.1 is a loopback address" in callback.reason
    assert [r.path for r, _ in buyer_server.log] == ["/post"]
