"""The compiled configuration the hot path reads instead of the database.

Everything a ping needs (keys, publishers, verticals with their field schema and
campaigns with compiled filters, schedules, mappings, response rules and caps) is
built once into immutable objects. Saving any configuration model moves the
``ConfigRevision`` number; each process checks that number every
``CONFIG_CACHE_SECONDS`` (one tiny query) and rebuilds when it moved, so the
ping path never queries per campaign.

In the web server and the worker the checking is done by a background thread (the
``Refresher``, which also re-reads the circuit breakers' snapshot), so a ping makes
no query at all before its fan-out. Should that thread fall behind, the first
request to find the cache older than ``CONFIG_CACHE_SECONDS`` checks for itself.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from plumbing.fields import STANDARD_FIELDS, FieldSpec
from plumbing.per_process import PerProcess

log = logging.getLogger(__name__)

Filter = Callable[[Mapping[str, Any]], "str | None"]


@dataclass(frozen=True, slots=True)
class PublisherInfo:
    id: int
    slug: str
    name: str
    is_active: bool
    payout_model: str
    payout_percent: Decimal
    payout_amount: Decimal
    floor: Decimal
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    rate_limit: tuple[int, int] | None  # (requests, seconds)
    callback_url: str

    def payout_for(self, price: Decimal) -> Decimal:
        from .choices import PayoutModel

        if self.payout_model == PayoutModel.FIXED:
            return min(self.payout_amount, price).quantize(Decimal("0.01"))
        return (price * self.payout_percent / Decimal(100)).quantize(Decimal("0.01"))

    def allows_ip(self, ip: str) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.networks)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    kind: str
    publisher_id: int | None
    buyer_id: int | None

    @property
    def is_test(self) -> bool:
        return self.kind == "test"


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
    read_answer: Callable[[int, str, bytes], Any]


@dataclass(frozen=True, slots=True)
class CampaignInfo:
    id: int
    slug: str
    name: str
    buyer_id: int
    buyer_slug: str
    buyer_name: str
    buyer_tz: str
    live: bool
    not_live_reason: str
    pricing_model: str
    fixed_price: Decimal | None
    min_bid: Decimal
    priority: int
    check_filters: Filter
    is_open: Callable[[datetime], bool]
    schedule: Mapping[str, Any]
    caps: tuple[Any, ...]  # buyers.caps.CapSpec, the campaign's and its buyer's
    ping: EndpointInfo | None
    post: EndpointInfo | None
    require_tcpa_consent: bool
    require_trustedform: bool
    require_jornaya: bool
    dedupe_days: int
    max_attempts: int
    retry_backoff: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class VerticalInfo:
    id: int
    slug: str
    name: str
    routing: str
    is_active: bool
    ping_ttl_seconds: int
    post_deadline_ms: int
    schema: Mapping[str, FieldSpec]
    campaigns: tuple[CampaignInfo, ...]


@dataclass(frozen=True, slots=True)
class Config:
    revision: int
    keys: Mapping[str, KeyInfo]
    publishers: Mapping[int, PublisherInfo]
    verticals: Mapping[str, VerticalInfo]
    campaigns: Mapping[int, CampaignInfo] = field(default_factory=dict)


_RATE_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_RATE_UNITS.update({"h": 3600, "hour": 3600})


def parse_rate(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    count, unit = text.split("/")
    return int(count), _RATE_UNITS[unit]


def _vertical_schema(vertical: Any) -> dict[str, FieldSpec]:
    schema = {spec.name: spec for spec in STANDARD_FIELDS}
    for vf in vertical.fields.all():
        base = schema.get(vf.name)
        schema[vf.name] = FieldSpec(
            name=vf.name,
            type=vf.type,
            stage=vf.stage,
            required_at_ping=vf.required_at_ping,
            required_at_post=vf.required_at_post,
            choices=tuple(str(c) for c in vf.choices or ()),
            pii=base.pii if base else False,
            max_length=base.max_length if base else 255,
        )
    return schema


def _credential(cred: Any) -> CredentialInfo | None:
    if cred is None:
        return None
    return CredentialInfo(
        id=cred.id,
        type=cred.type,
        header_name=cred.header_name,
        username=cred.username,
        token_url=cred.token_url,
        client_id=cred.client_id,
        scope=cred.scope,
        secret=cred.secret or "",
        secret_env=cred.secret_env,
    )


def _endpoint(ep: Any) -> EndpointInfo:
    from buyers.mapping import compile_mapping
    from buyers.response_rules import compile_response_rules

    return EndpointInfo(
        id=ep.id,
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


def _campaign(c: Any, caps: tuple[Any, ...]) -> CampaignInfo:
    from buyers.filters import compile_filters
    from buyers.schedule import compile_schedule

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
    try:
        check_filters = compile_filters(c.filters or [])
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
        id=c.id,
        slug=c.slug,
        name=c.name or c.slug,
        buyer_id=buyer.id,
        buyer_slug=buyer.slug,
        buyer_name=buyer.name,
        buyer_tz=buyer.timezone,
        live=not not_live,
        not_live_reason=not_live,
        pricing_model=c.pricing_model,
        fixed_price=c.fixed_price,
        min_bid=c.min_bid,
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
    )


def build_config(revision: int) -> Config:
    """Compile the whole configuration from the database (a handful of queries)."""
    from buyers.caps import CapSpec
    from buyers.models import Campaign, Cap

    from .models import ApiKey, Publisher, Vertical

    publishers = {}
    for p in Publisher.objects.all():
        publishers[p.id] = PublisherInfo(
            id=p.id,
            slug=p.slug,
            name=p.name,
            is_active=p.is_active,
            payout_model=p.payout_model,
            payout_percent=p.payout_percent,
            payout_amount=p.payout_amount,
            floor=p.floor,
            networks=tuple(ipaddress.ip_network(n, strict=False) for n in p.allowed_ips or ()),
            rate_limit=parse_rate(p.rate_limit),
            callback_url=p.callback_url,
        )
    keys = {
        k.key_hash: KeyInfo(k.id, k.kind, k.publisher_id, k.buyer_id)
        for k in ApiKey.objects.active().only("id", "kind", "publisher_id", "buyer_id", "key_hash")
    }
    caps_by_campaign: dict[int, list[Any]] = {}
    caps_by_buyer: dict[int, list[Any]] = {}
    for cap in Cap.objects.select_related("campaign__buyer", "buyer"):
        owner = cap.buyer or cap.campaign.buyer
        spec = CapSpec.from_cap(cap, owner.timezone)
        if cap.campaign_id:
            caps_by_campaign.setdefault(cap.campaign_id, []).append(spec)
        else:
            caps_by_buyer.setdefault(cap.buyer_id, []).append(spec)
    campaigns_by_vertical: dict[int, list[CampaignInfo]] = {}
    all_campaigns: dict[int, CampaignInfo] = {}
    queryset = Campaign.objects.select_related("buyer").prefetch_related("endpoints__credential")
    for c in queryset:
        caps = tuple(caps_by_campaign.get(c.id, ())) + tuple(caps_by_buyer.get(c.buyer_id, ()))
        info = _campaign(c, caps)
        all_campaigns[c.id] = info
        campaigns_by_vertical.setdefault(c.vertical_id, []).append(info)
    verticals = {}
    for v in Vertical.objects.prefetch_related("fields"):
        verticals[v.slug] = VerticalInfo(
            id=v.id,
            slug=v.slug,
            name=v.name,
            routing=v.routing,
            is_active=v.is_active,
            ping_ttl_seconds=v.ping_ttl_seconds,
            post_deadline_ms=v.post_deadline_ms,
            schema=_vertical_schema(v),
            campaigns=tuple(campaigns_by_vertical.get(v.id, ())),
        )
    return Config(revision, keys, publishers, verticals, all_campaigns)


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: Config | None = None
        self.checked_at = 0.0
        self.stale = True

    def get(self) -> Config:
        config = self.config
        ttl = settings.SWITCHYARD["CONFIG_CACHE_SECONDS"]
        if config is not None and not self.stale and time.monotonic() - self.checked_at < ttl:
            return config
        return self.check()

    def check(self) -> Config:
        """Read the revision now; rebuild if it moved or this process changed something."""
        with self.lock:
            revision = _current_revision()
            if self.config is None or self.stale or self.config.revision != revision:
                self.stale = False
                self.config = build_config(revision)
            self.checked_at = time.monotonic()
            return self.config

    def invalidate(self) -> None:
        self.stale = True


_cache = _Cache()


class Refresher:
    """One thread per process that keeps the configuration and the circuit snapshot
    fresh, checking twice per ``CONFIG_CACHE_SECONDS`` / ``CIRCUIT_STATE_SECONDS``
    (whichever is shorter), so requests find them fresh and never wait on the query."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="switchyard-refresher", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()

    @staticmethod
    def interval_s() -> float:
        from buyers.circuits import limit

        ttls = (settings.SWITCHYARD["CONFIG_CACHE_SECONDS"], limit("CIRCUIT_STATE_SECONDS"))
        return max(0.05, min(ttls) / 2)

    def _run(self) -> None:
        from django.db import connection

        from buyers.circuits import refresh_snapshot

        try:
            while not self.stopping.wait(self.interval_s()):
                try:
                    _cache.check()
                    refresh_snapshot()
                except Exception:
                    # The database restarting, say: requests check for themselves meanwhile.
                    log.warning("could not refresh the configuration", exc_info=True)
                    connection.close()
        finally:
            connection.close()


_refresher = PerProcess(Refresher)


def get_config() -> Config:
    if settings.SWITCHYARD["REFRESH_IN_BACKGROUND"]:
        _refresher.get()  # started on first use in each process (after any fork)
    return _cache.get()


def invalidate_local() -> None:
    _cache.invalidate()


def _current_revision() -> int:
    from .models import ConfigRevision

    number = ConfigRevision.objects.filter(pk=1).values_list("number", flat=True).first()
    return number or 0


def mark_config_changed() -> None:
    """Tell this process at once, and every other one within CONFIG_CACHE_SECONDS."""
    from .models import ConfigRevision

    _cache.invalidate()
    updated = ConfigRevision.objects.filter(pk=1).update(
        number=F("number") + 1, changed_at=timezone.now()
    )
    if not updated:
        ConfigRevision.objects.get_or_create(pk=1, defaults={"number": 1})
    # A rebuild that ran inside the saving transaction may have seen half the change.
    transaction.on_commit(_cache.invalidate)
