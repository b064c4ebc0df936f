"""Buyers' configuration compiled for the hot path: immutable campaigns and endpoints.

A campaign's filters, schedule, mappings and response rules are compiled once into
callables, so a ping or a post never re-reads or re-parses them. The exchange's
configuration cache (``exchange.config_cache``) calls ``compile_campaigns`` when the
configuration revision moves; the admin's test console compiles the one campaign it
shows with ``compile_campaign``, the same code, so it shows what production sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from .caps import CapSpec
from .filters import compile_filters
from .mapping import compile_mapping
from .models import Campaign, Cap, Credential, Endpoint
from .pricing import Modify, compile_modifiers
from .response_rules import Answer, compile_response_rules
from .schedule import compile_schedule
from .throttle import ThrottleSpec, parse_throttle

log = logging.getLogger(__name__)

Filter = Callable[[Mapping[str, Any]], "str | None"]


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    id: int
    type: str
    header_name: str
    username: str
    token_url: str
    client_id: str
    scope: str
    secret: str
    secret_env: str


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    id: int
    kind: str
    url: str
    test_url: str
    method: str
    format: str
    headers: Mapping[str, str]
    timeout_ms: int
    credential: CredentialInfo | None
    map_lead: Callable[[Mapping[str, Any]], dict]
    read_answer: Callable[[int, str, bytes], Answer]


@dataclass(frozen=True, slots=True)
class CampaignInfo:
    id: int
    slug: str
    name: str
    vertical_id: int
    buyer_id: int
    buyer_slug: str
    buyer_name: str
    buyer_tz: str
    live: bool
    not_live_reason: str
    pricing_model: str
    fixed_price: Decimal | None
    min_bid: Decimal
    max_bid: Decimal
    priority: int
    check_filters: Filter
    is_open: Callable[[datetime], bool]
    schedule: Mapping[str, Any]
    caps: tuple[CapSpec, ...]  # the campaign's and its buyer's
    ping: EndpointInfo | None
    post: EndpointInfo | None
    require_tcpa_consent: bool
    require_trustedform: bool
    require_jornaya: bool
    dedupe_days: int
    max_attempts: int
    retry_backoff: tuple[int, ...]
    fallback: bool = False
    modify_price: Modify | None = None
    throttle: ThrottleSpec | None = None

    def price_for(self, values: Mapping[str, Any]) -> tuple[Decimal | None, list[str]]:
        """The fixed price after modifiers on ``values``, and the modifiers applied."""
        if self.fixed_price is None or self.modify_price is None:
            return self.fixed_price, []
        return self.modify_price(Decimal(self.fixed_price), values)


def _credential(cred: Credential | None) -> CredentialInfo | None:
    if cred is None:
        return None
    return CredentialInfo(
        id=cred.pk,
        type=cred.type,
        header_name=cred.header_name,
        username=cred.username,
        token_url=cred.token_url,
        client_id=cred.client_id,
        scope=cred.scope,
        secret=cred.secret or "",
        secret_env=cred.secret_env,
    )


def _endpoint(ep: Endpoint) -> EndpointInfo:
    return EndpointInfo(
        id=ep.pk,
        kind=ep.kind,
        url=ep.url,
        test_url=ep.test_url,
        method=ep.method,
        format=ep.format,
        headers=dict(ep.headers or {}),
        timeout_ms=ep.timeout_ms,
        credential=_credential(ep.credential),
        map_lead=compile_mapping(ep.mapping or []),
        read_answer=compile_response_rules(ep.response or {}),
    )


def _misconfigured(reason: str) -> Filter:
    def check(values: Mapping[str, Any]) -> str:
        return reason

    return check


def compile_campaign(c: Campaign, caps: tuple[CapSpec, ...] = ()) -> CampaignInfo:
    """One campaign compiled; a rule that does not compile makes it not live, with why."""
    buyer = c.buyer
    not_live = ""
    if not c.is_active:
        not_live = "campaign inactive"
    elif c.paused_reason:
        not_live = f"paused: {c.paused_reason}"
    elif not buyer.is_active:
        not_live = "buyer inactive"
    endpoints = {ep.kind: ep for ep in c.endpoints.all()}
    check_filters: Filter
    is_open: Callable[[datetime], bool] | None
    modify_price: Modify | None = None
    throttle: ThrottleSpec | None = None
    try:
        check_filters = compile_filters(c.filters or [])
        modify_price = compile_modifiers(c.price_modifiers or [])
        throttle = parse_throttle(c.throttle or {})
        is_open = compile_schedule(c.schedule or {}, buyer.timezone)
        ping = _endpoint(endpoints["ping"]) if "ping" in endpoints else None
        post = _endpoint(endpoints["post"]) if "post" in endpoints else None
    except Exception as exc:  # a bad rule must not take the whole exchange down
        log.error("campaign %s is misconfigured: %s", c.slug, exc)
        check_filters, is_open, ping, post = (
            _misconfigured(f"misconfigured: {exc}"),
            None,
            None,
            None,
        )
        not_live = not_live or f"misconfigured: {exc}"
    return CampaignInfo(
        id=c.pk,
        slug=c.slug,
        name=c.name or c.slug,
        vertical_id=c.vertical_id,
        buyer_id=buyer.pk,
        buyer_slug=buyer.slug,
        buyer_name=buyer.name,
        buyer_tz=buyer.timezone,
        live=not not_live,
        not_live_reason=not_live,
        pricing_model=c.pricing_model,
        fixed_price=c.fixed_price,
        min_bid=c.min_bid,
        max_bid=c.max_bid,
        priority=c.priority,
        check_filters=check_filters,
        is_open=is_open or (lambda now: True),
        schedule=c.schedule or {},
        caps=caps,
        ping=ping,
        post=post,
        require_tcpa_consent=c.require_tcpa_consent,
        require_trustedform=c.require_trustedform,
        require_jornaya=c.require_jornaya,
        dedupe_days=c.dedupe_days,
        max_attempts=max(1, c.max_attempts),
        retry_backoff=tuple(c.retry_backoff or settings.SWITCHYARD["RETRY_BACKOFF_SECONDS"]),
        fallback=c.fallback,
        modify_price=modify_price,
        throttle=throttle,
    )


def compile_campaigns() -> dict[int, CampaignInfo]:
    """Every campaign compiled with its caps and its buyer's, by id (three queries)."""
    caps_by_campaign: dict[int, list[CapSpec]] = {}
    caps_by_buyer: dict[int, list[CapSpec]] = {}
    for cap in Cap.objects.select_related("campaign__buyer", "buyer"):
        spec = CapSpec.from_cap(cap, cap.owner.timezone)
        if cap.campaign_id is not None:
            caps_by_campaign.setdefault(cap.campaign_id, []).append(spec)
        elif cap.buyer_id is not None:
            caps_by_buyer.setdefault(cap.buyer_id, []).append(spec)
    campaigns: dict[int, CampaignInfo] = {}
    queryset = Campaign.objects.select_related("buyer").prefetch_related("endpoints__credential")
    for c in queryset:
        caps = tuple(caps_by_campaign.get(c.pk, ())) + tuple(caps_by_buyer.get(c.buyer_id, ()))
        campaigns[c.pk] = compile_campaign(c, caps)
    return campaigns
