"""Small builders for configuration rows, shared by the tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from buyers.models import Buyer, Campaign, Cap, Endpoint
from exchange.models import Publisher, Vertical, VerticalField
from exchange.services import create_api_key

PING_RESPONSE = {
    "accepted": {"path": "result", "equals": ["accepted"]},
    "price": {"path": "bid"},
    "reference": {"path": "bid_id"},
}
POST_RESPONSE = {
    "accepted": {"path": "status", "equals": ["ok"]},
    "reference": {"path": "lead_id"},
    "reason": {"path": "error"},
}

PING_LEAD = {"zip": "75001", "state": "TX", "credit_tier": "good"}
POST_LEAD = {
    **PING_LEAD,
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann.lee@example.com",
    "phone": "(214) 555-0143",
}


def make_vertical(slug: str = "auto-insurance", **fields: Any) -> Vertical:
    vertical = Vertical.objects.create(slug=slug, name=slug.replace("-", " ").title(), **fields)
    VerticalField.objects.create(
        vertical=vertical,
        name="credit_tier",
        type="choice",
        choices=["excellent", "good", "fair", "poor"],
        stage="ping",
    )
    return vertical


def make_publisher(
    slug: str = "acme", *, kind: str = "live", **fields: Any
) -> tuple[Publisher, str]:
    fields.setdefault("payout_percent", Decimal("80"))
    publisher = Publisher.objects.create(slug=slug, name=slug.title(), **fields)
    _, raw = create_api_key(kind=kind, publisher=publisher)
    return publisher, raw


def make_campaign(
    vertical: Vertical,
    slug: str,
    *,
    ping_url: str | None = None,
    post_url: str | None = None,
    pricing_model: str = "dynamic",
    fixed_price: str | None = None,
    timeout_ms: int = 300,
    post_timeout_ms: int = 2000,
    buyer: Buyer | None = None,
    caps: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Campaign:
    buyer = buyer or Buyer.objects.create(slug=f"{slug}-buyer", name=f"{slug.title()} Buyer")
    campaign = Campaign.objects.create(
        buyer=buyer,
        vertical=vertical,
        slug=slug,
        pricing_model=pricing_model,
        fixed_price=Decimal(fixed_price) if fixed_price else None,
        **fields,
    )
    if ping_url:
        Endpoint.objects.create(
            campaign=campaign,
            kind="ping",
            url=ping_url,
            timeout_ms=timeout_ms,
            response=PING_RESPONSE,
        )
    if post_url:
        Endpoint.objects.create(
            campaign=campaign,
            kind="post",
            url=post_url,
            timeout_ms=post_timeout_ms,
            response=POST_RESPONSE,
        )
    for cap in caps or []:
        Cap.objects.create(campaign=campaign, **cap)
    return campaign


def ping(api: Any, key: str, lead: dict | None = None, **extra: Any) -> Any:
    """POST /api/v1/ping for the factories' vertical, as a publisher would."""
    body = {"vertical": "auto-insurance", "lead": lead or PING_LEAD, **extra}
    return api.post("/api/v1/ping", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")


def post(api: Any, key: str, ping_id: str, lead: dict | None = None, **extra: Any) -> Any:
    """POST /api/v1/post with the full lead for a ping."""
    body = {"ping_id": ping_id, "lead": lead or POST_LEAD, **extra}
    return api.post("/api/v1/post", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")


def direct_post(api: Any, key: str, lead: dict | None = None, **headers: Any) -> Any:
    """POST /api/v1/leads: the full lead in one go (headers such as HTTP_IDEMPOTENCY_KEY)."""
    body = {"vertical": "auto-insurance", "lead": lead or POST_LEAD}
    return api.post(
        "/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}", **headers
    )
