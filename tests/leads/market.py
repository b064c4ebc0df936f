"""A small market for the admin's lead screens: two buyers bid on every lead, the
higher one (Summit, 10.06) turns the post down, the lower one (Budget, 6.58) takes it.

Leads are sold through the public API, so the admin pages show what a real lead leaves
behind: bids, a waterfall of deliveries, calls and ledger rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Group
from werkzeug import Request, Response

from exchange.models import Vertical
from leads.models import Lead
from tests.factories import POST_LEAD, make_campaign, make_publisher, make_vertical

PASSWORD = "pw-lead-screens-1"


@dataclass
class PostAnswer:
    """What a buyer's post endpoint answers; tests change it between leads."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"status": "ok", "lead_id": "B-1"})

    def __call__(self, request: Request) -> Response:
        return Response(json.dumps(self.body), self.status, content_type="application/json")


@dataclass
class Market:
    vertical: Vertical
    key: str
    summit: PostAnswer
    budget: PostAnswer


def make_market(server: Any, **campaign_fields: Any) -> Market:
    vertical = make_vertical(post_deadline_ms=3000)
    _, key = make_publisher("acme")
    answers = {}
    for name, price, post in (
        ("summit", "10.06", PostAnswer(body={"status": "no", "error": "not in our area"})),
        ("budget", "6.58", PostAnswer()),
    ):
        server.expect_request(f"/{name}/ping").respond_with_json(
            {"result": "accepted", "bid": price, "bid_id": f"{name}-bid"}
        )
        server.expect_request(f"/{name}/post").respond_with_handler(post)
        make_campaign(
            vertical,
            name,
            ping_url=server.url_for(f"/{name}/ping"),
            post_url=server.url_for(f"/{name}/post"),
            **campaign_fields,
        )
        answers[name] = post
    return Market(vertical, key, answers["summit"], answers["budget"])


def sell_lead(api: Any, market: Market, phone: str, email: str, sub_id: str = "") -> Lead:
    """A direct post of a person, as a publisher would send it; the lead as stored."""
    body: dict[str, Any] = {
        "vertical": "auto-insurance",
        "lead": {**POST_LEAD, "phone": phone, "email": email},
    }
    if sub_id:
        body["sub_id"] = sub_id
    answer = api.post(
        "/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {market.key}"
    )
    assert answer.status_code == 200, answer.content
    return Lead.objects.get(pk=answer.json()["lead_id"])


def staff(django_user_model: Any, name: str, group: str) -> Any:
    user = django_user_model.objects.create_user(name, f"{name}@example.com", PASSWORD)
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=group))
    return user
