"""The compiled configuration the hot path reads instead of the database.

Everything a ping needs (keys, publishers, verticals with their field schema, and
the campaigns ``buyers.compiled`` builds with their filters, schedules, mappings,
response rules and caps) is built once into immutable objects. Saving any
configuration model moves the ``ConfigRevision`` number; each process checks that
number every ``CONFIG_CACHE_SECONDS`` (one tiny query) and rebuilds when it moved, so
the ping path never queries per campaign.

In the web server and the worker the checking is done by a background thread (the
``Refresher``, which also re-reads the circuit breakers' snapshot), so a ping makes
no query at all before its fan-out. Should that thread fall behind, the first
request to find the cache older than ``CONFIG_CACHE_SECONDS`` checks for itself.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from buyers.circuits import limit, refresh_snapshot
from buyers.compiled import CampaignInfo, compile_campaigns
from buyers.models import Buyer
from plumbing.client_ip import in_networks
from plumbing.fields import FieldSpec, vertical_schema
from plumbing.per_process import PerProcess

from .choices import PayoutModel
from .models import ApiKey, CampaignQuality, ConfigRevision, Publisher, Vertical
from .quality import PRIOR, Quality, quality_from_counts

log = logging.getLogger(__name__)


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
        if self.payout_model == PayoutModel.FIXED:
            return min(self.payout_amount, price).quantize(Decimal("0.01"))
        return (price * self.payout_percent / Decimal(100)).quantize(Decimal("0.01"))

    def allows_ip(self, ip: str) -> bool:
        return not self.networks or in_networks(ip, self.networks)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    kind: str
    publisher_id: int | None
    buyer_id: int | None
    # The owner's (publisher's or buyer's) IP allowlist and rate limit, so every API
    # view checks any key the same way.
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    rate_limit: tuple[int, int] | None = None

    def allows_ip(self, ip: str) -> bool:
        return not self.networks or in_networks(ip, self.networks)

    @property
    def is_test(self) -> bool:
        return self.kind == "test"


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
    # Campaign id -> its quality, read by ``expected_revenue`` routing (``exchange.quality``).
    quality: Mapping[int, Quality] = field(default_factory=dict)

    def quality_of(self, campaign_id: int) -> Quality:
        return self.quality.get(campaign_id, PRIOR)


@dataclass(frozen=True, slots=True)
class Config:
    revision: int
    keys: Mapping[str, KeyInfo]
    publishers: Mapping[int, PublisherInfo]
    verticals: Mapping[str, VerticalInfo]
    campaigns: Mapping[int, CampaignInfo] = field(default_factory=dict)


_RATE_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_RATE_UNITS.update({"h": 3600, "hour": 3600})


def _networks(raw: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(str(n).strip(), strict=False) for n in raw or ())


def parse_rate(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    count, unit = text.split("/")
    return int(count), _RATE_UNITS[unit]


def build_config(revision: int) -> Config:
    """Compile the whole configuration from the database (a handful of queries)."""
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
            networks=_networks(p.allowed_ips),
            rate_limit=parse_rate(p.rate_limit),
            callback_url=p.callback_url,
        )
    buyer_limits = {
        b.id: (_networks(b.allowed_ips), parse_rate(b.rate_limit))
        for b in Buyer.objects.only("id", "allowed_ips", "rate_limit")
    }
    keys = {}
    for k in ApiKey.objects.active().only("id", "kind", "publisher_id", "buyer_id", "key_hash"):
        if k.publisher_id is not None:
            owner = publishers[k.publisher_id]
            limits = (owner.networks, owner.rate_limit)
        else:
            limits = buyer_limits.get(k.buyer_id or 0, ((), None))
        keys[k.key_hash] = KeyInfo(k.id, k.kind, k.publisher_id, k.buyer_id, *limits)
    all_campaigns = compile_campaigns()
    campaigns_by_vertical: dict[int, list[CampaignInfo]] = {}
    for info in all_campaigns.values():
        campaigns_by_vertical.setdefault(info.vertical_id, []).append(info)
    # Counts the rollup job wrote (reporting.quality): weighed here, once per rebuild,
    # so a ping under expected_revenue routing reads a number and queries nothing.
    quality = {
        q.campaign_id: quality_from_counts(q.delivered, q.accepted, q.sold, q.returns)
        for q in CampaignQuality.objects.all()
    }
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
            schema=vertical_schema(v.fields.all()),
            campaigns=tuple(campaigns_by_vertical.get(v.id, ())),
            quality={
                c.id: quality[c.id] for c in campaigns_by_vertical.get(v.id, ()) if c.id in quality
            },
        )
    return Config(revision, keys, publishers, verticals, all_campaigns)


class _Cache:
    """This process's compiled configuration. ``invalidate()`` counts the changes this
    process made (``wanted``); a config is served only once it was built after the last
    of them (``built``), so a request never gets the old config while another thread is
    still rebuilding it, and a change that lands during a rebuild is not lost."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # The config with the ``wanted`` it was built after, swapped as one, so a reader
        # never pairs a new number with an old config.
        self.current: tuple[Config, int] | None = None
        self.checked_at = 0.0
        self.changes = itertools.count(1)  # next() is atomic: no two get the same number
        self.wanted = next(self.changes)  # the number of the last invalidation

    def get(self) -> Config:
        current = self.current
        ttl = settings.SWITCHYARD["CONFIG_CACHE_SECONDS"]
        if (
            current is not None
            and current[1] == self.wanted
            and time.monotonic() - self.checked_at < ttl
        ):
            return current[0]
        return self.check()

    def check(self) -> Config:
        """Read the revision now; rebuild if it moved or this process changed something."""
        with self.lock:
            wanted = self.wanted
            revision = _current_revision()
            current = self.current
            if current is None or current[1] != wanted or current[0].revision != revision:
                self.current = current = (build_config(revision), wanted)
            self.checked_at = time.monotonic()
            return current[0]

    def invalidate(self) -> None:
        self.wanted = next(self.changes)


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
        ttls = (settings.SWITCHYARD["CONFIG_CACHE_SECONDS"], limit("CIRCUIT_STATE_SECONDS"))
        return max(0.05, min(ttls) / 2)

    def _run(self) -> None:
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


def stop_refresher() -> None:
    """Stop this process's background refresher, if it runs, and close its connection
    (before the database goes); the next ``get_config()`` starts a new one."""
    refresher = _refresher.discard()
    if refresher is not None:
        refresher.stop()


def invalidate_local() -> None:
    _cache.invalidate()


def _current_revision() -> int:
    number = ConfigRevision.objects.filter(pk=1).values_list("number", flat=True).first()
    return number or 0


def mark_config_changed() -> None:
    """Tell this process at once, and every other one within CONFIG_CACHE_SECONDS."""
    _cache.invalidate()
    updated = ConfigRevision.objects.filter(pk=1).update(
        number=F("number") + 1, changed_at=timezone.now()
    )
    if not updated:
        ConfigRevision.objects.get_or_create(pk=1, defaults={"number": 1})
    # A rebuild that ran inside the saving transaction may have seen half the change.
    transaction.on_commit(_cache.invalidate)
