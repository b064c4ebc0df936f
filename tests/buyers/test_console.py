"""The admin test console, through its admin URL, against a real local buyer server."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
from werkzeug import Response

from buyers.models import Credential, Endpoint
from tests.factories import PING_LEAD, POST_LEAD, make_campaign, make_vertical

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(client: Any, django_user_model: Any) -> Any:
    client.force_login(django_user_model.objects.create_superuser("alice", "a@example.com", "pw"))
    return client


@pytest.fixture
def campaign(buyer_server: Any) -> Any:
    campaign = make_campaign(
        make_vertical(),
        "summit-tx",
        ping_url=buyer_server.url_for("/ping"),
        post_url=buyer_server.url_for("/post"),
    )
    token = Credential.objects.create(
        buyer=campaign.buyer, name="summit", type="bearer", secret="s3cret-token"
    )
    Endpoint.objects.filter(campaign=campaign, kind="ping").update(
        credential=token,
        mapping=[{"to": "zip_code", "from": "zip"}, {"to": "st", "from": "state"}],
    )
    Endpoint.objects.filter(campaign=campaign, kind="post").update(
        format="xml",
        test_url=buyer_server.url_for("/sandbox/post"),
        mapping=[
            {"to": "lead/ref", "from": "bid.reference"},
            {"to": "lead/name", "template": "{first_name} {last_name}"},
            {"to": "lead/phone", "from": "phone", "transforms": ["digits"]},
        ],
    )
    return campaign


def console(campaign: Any) -> str:
    return f"/admin/buyers/campaign/{campaign.pk}/test-lead/"


def run(manager: Any, campaign: Any, target: str, lead: dict, action: str = "preview") -> Any:
    data = {"target": target, "lead": json.dumps(lead), "action": action}
    return manager.post(console(campaign), data)


def page(response: Any) -> str:
    return html.unescape(response.content.decode())


def test_the_console_opens_with_a_sample_lead_of_the_campaigns_vertical(
    manager: Any, campaign: Any
) -> None:
    answer = manager.get(console(campaign))

    assert answer.status_code == 200
    sample = json.loads(answer.context["form"].initial["lead"])
    assert sample["credit_tier"] == "excellent"
    assert sample["zip"] == "75001"
    assert sample["bid.reference"] == "TEST-REF-1"


def test_the_change_page_links_to_the_console(manager: Any, campaign: Any) -> None:
    answer = manager.get(f"/admin/buyers/campaign/{campaign.pk}/change/")

    assert f'href="{console(campaign)}"' in answer.content.decode()


def test_showing_the_request_sends_nothing_and_masks_the_secret(
    manager: Any, campaign: Any, buyer_server: Any
) -> None:
    answer = run(manager, campaign, "ping", POST_LEAD)

    shown = page(answer)
    assert f"<td>{buyer_server.url_for('/ping')}</td>" in shown
    assert "<tr><th>Authorization</th><td>***</td></tr>" in shown
    assert "s3cret-token" not in shown
    assert '<pre id="test-request-body">{"zip_code":"75001","st":"TX"}</pre>' in shown
    assert "Not sent in a ping (post-stage fields and bid sources): email, first_name" in shown
    assert buyer_server.log == []


def test_sending_shows_the_raw_answer_and_how_the_rules_read_it(
    manager: Any, campaign: Any, buyer_server: Any
) -> None:
    raw = '{"result": "accepted", "bid": "12.50", "bid_id": "B-9"}'
    buyer_server.expect_request("/ping", method="POST").respond_with_data(
        raw, content_type="application/json"
    )

    answer = run(manager, campaign, "ping", PING_LEAD, action="send")

    ((request, _),) = buyer_server.log
    assert request.headers["Authorization"] == "Bearer s3cret-token"
    assert request.get_data() == b'{"zip_code":"75001","st":"TX"}'
    shown = page(answer)
    assert "<tr><th>Status</th><td>200</td></tr>" in shown
    assert f'<pre id="test-response-body">{raw}</pre>' in shown
    assert "<tr><th>Outcome</th><td>accepted</td></tr>" in shown
    assert "<tr><th>Price</th><td>12.50</td></tr>" in shown
    assert "<tr><th>Reference</th><td>B-9</td></tr>" in shown


def test_a_post_can_go_to_the_test_url_and_its_rejection_is_explained(
    manager: Any, campaign: Any, buyer_server: Any
) -> None:
    def reject(request: Any) -> Response:
        return Response(json.dumps({"status": "no", "error": "duplicate lead"}), 200)

    buyer_server.expect_request("/sandbox/post").respond_with_handler(reject)
    lead = {**POST_LEAD, "phone": "+12145550143", "bid.reference": "R-77"}

    answer = run(manager, campaign, "post-test", lead, action="send")

    ((request, _),) = buyer_server.log
    assert request.get_data().decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>'
        "<lead><ref>R-77</ref><name>Ann Lee</name><phone>12145550143</phone></lead>"
    )
    assert request.headers["Content-Type"] == "application/xml"
    shown = page(answer)
    assert "<tr><th>Outcome</th><td>rejected</td></tr>" in shown
    assert "<tr><th>Reason</th><td>duplicate lead</td></tr>" in shown


def test_a_buyer_that_does_not_answer_shows_the_transport_error(
    manager: Any, campaign: Any
) -> None:
    Endpoint.objects.filter(campaign=campaign, kind="ping").update(url="http://127.0.0.1:9/ping")

    answer = run(manager, campaign, "ping", PING_LEAD, action="send")

    assert "<tr><th>Outcome</th><td>transport_error</td></tr>" in page(answer)


def test_a_missing_test_url_is_explained(manager: Any, campaign: Any, buyer_server: Any) -> None:
    answer = run(manager, campaign, "ping-test", PING_LEAD, action="send")

    assert "The ping endpoint has no test URL." in page(answer)
    assert buyer_server.log == []


def test_a_body_the_format_cannot_carry_is_explained_and_not_sent(
    manager: Any, campaign: Any, buyer_server: Any
) -> None:
    # Saved before the XML target checks existed: "2nd" cannot be an element name.
    Endpoint.objects.filter(campaign=campaign, kind="post").update(
        mapping=[{"to": "lead/2nd", "from": "zip"}]
    )

    answer = run(manager, campaign, "post-test", POST_LEAD, action="send")

    assert answer.status_code == 200
    assert "the body cannot be built: '2nd' cannot be an XML element name" in page(answer)
    assert buyer_server.log == []


def test_a_lead_that_is_not_json_is_refused(manager: Any, campaign: Any) -> None:
    answer = manager.post(
        console(campaign), {"target": "ping", "lead": "{zip: 1", "action": "send"}
    )

    assert answer.status_code == 200
    assert "Not valid JSON" in page(answer)


def test_only_managers_who_may_change_campaigns_use_it(
    client: Any, django_user_model: Any, campaign: Any
) -> None:
    viewer = django_user_model.objects.create_user("bob", "b@example.com", "pw", is_staff=True)
    client.force_login(viewer)

    assert client.get(console(campaign)).status_code == 403
