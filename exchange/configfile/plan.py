"""What a config file asks for, checked and ready to apply (SPEC §9).

Each plan holds model field values already cleaned by their model fields. Values a
file leaves out take the model defaults, except what export never writes: secrets,
the fields of the payout or pricing model not in use, pauses set by the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(slots=True)
class KeyPlan:
    """A publisher's or buyer's key: its full text (to create it) or, as exported, its
    prefix."""

    path: str
    name: str
    raw: str = ""
    prefix: str = ""

    @property
    def kind(self) -> str:
        text = self.raw or self.prefix
        for kind in ("test", "buyer"):
            if text.startswith(f"sy_{kind}_"):
                return kind
        return "live"


@dataclass(slots=True)
class CapPlan:
    period: str
    max_leads: int | None
    max_spend: Decimal | None


@dataclass(slots=True)
class AuthPlan:
    """A credential of the buyer, named so endpoints can share it.

    ``secret`` is None when the file gives no inline secret: the stored one is kept.
    """

    path: str
    name: str
    values: dict[str, Any]
    secret: str | None = None


@dataclass(slots=True)
class EndpointPlan:
    path: str
    kind: str
    values: dict[str, Any]
    auth: AuthPlan | None = None


@dataclass(slots=True)
class CampaignPlan:
    path: str
    slug: str
    vertical: str
    values: dict[str, Any]
    caps: list[CapPlan] = field(default_factory=list)
    endpoints: dict[str, EndpointPlan] = field(default_factory=dict)


@dataclass(slots=True)
class BuyerPlan:
    path: str
    slug: str
    values: dict[str, Any]
    caps: list[CapPlan] = field(default_factory=list)
    campaigns: list[CampaignPlan] = field(default_factory=list)
    keys: list[KeyPlan] = field(default_factory=list)


@dataclass(slots=True)
class PublisherPlan:
    path: str
    slug: str
    values: dict[str, Any]
    keys: list[KeyPlan] = field(default_factory=list)


@dataclass(slots=True)
class VerticalPlan:
    path: str
    slug: str
    values: dict[str, Any]
    fields: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Plan:
    verticals: list[VerticalPlan] = field(default_factory=list)
    publishers: list[PublisherPlan] = field(default_factory=list)
    buyers: list[BuyerPlan] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)  # registered sections, parsed
    warnings: list[str] = field(default_factory=list)
