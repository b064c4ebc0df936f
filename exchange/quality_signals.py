"""Lead-quality signals (SPEC §7), read by campaign filters as ``quality.*`` fields.

Worked out from the full lead (e-mail, phone and IP are post-stage), before any buyer
gets it: at a direct post in the auction, after a ping in the checks at post. At a ping
they are not known yet: rules on them pass there and are decided at post, like every
post-stage field (``buyers.filters.DEFERRED``).

- ``quality.disposable_email``: the e-mail's domain (or a parent domain) is on the list
  of the ``disposable-email-domains`` package.
- ``quality.velocity_ip``, ``quality.velocity_phone``: how many leads came from this IP
  address / phone number in the last ``QUALITY_VELOCITY_MINUTES``, this one included;
  counted in per-minute buckets of the shared cache (Redis in production), keyed by a
  keyed hash, so every process sees the same figures and no address is stored.
- ``quality.phone_line_type`` (``mobile``, ``landline``, ``voip``...),
  ``quality.ip_country``, ``quality.ip_region`` and ``quality.ip_matches_state``: from
  the lookup class the ``QUALITY_LOOKUP`` setting names. The default knows nothing (the
  fields are missing); a lookup that fails leaves them missing too, never the post.

Signals are computed on first read only, so a lead that no campaign asks about costs
nothing but its velocity count; those read go on the lead's trace.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from django.conf import settings
from django.core.cache import cache as shared_cache
from django.utils.module_loading import import_string

from buyers.filters import DEFERRED, QUALITY_FIELDS
from plumbing.crypto import lookup_hash
from plumbing.pii import normalize_phone

log = logging.getLogger(__name__)

PREFIX = "quality."


class QualityLookup(Protocol):
    """What a ``QUALITY_LOOKUP`` class answers; None (or an error) means unknown."""

    def phone_line_type(self, phone: str) -> str | None: ...

    def ip_location(self, ip: str) -> tuple[str, str] | None:
        """(ISO country code, region code such as a US state), or None."""


class NoLookup:
    """The default: no line-type or geolocation service; those signals stay missing."""

    def phone_line_type(self, phone: str) -> str | None:
        return None

    def ip_location(self, ip: str) -> tuple[str, str] | None:
        return None


@cache
def _lookup(path: str) -> QualityLookup:
    return import_string(path)()


def lookup() -> QualityLookup:
    """The lookup the ``QUALITY_LOOKUP`` setting names (a dotted class path)."""
    return _lookup(settings.SWITCHYARD["QUALITY_LOOKUP"])


def deferred() -> dict[str, Any]:
    """The signals at a ping: not known yet."""
    return dict.fromkeys(QUALITY_FIELDS, DEFERRED)


def is_disposable(email: str) -> bool:
    domain = email.rpartition("@")[2].strip().lower().rstrip(".")
    parts = domain.split(".")
    # A sub-domain of a listed domain is as disposable as the domain itself.
    return any(".".join(parts[i:]) in DISPOSABLE_DOMAINS for i in range(len(parts) - 1))


def _text(values: Mapping[str, Any], name: str) -> str:
    raw = values.get(name)
    return raw.strip() if isinstance(raw, str) else ""


class Signals(Mapping[str, Any]):
    """The quality signals of one lead, each worked out when first read.

    A missing signal (no e-mail, an unknown line type) is absent from the mapping, as a
    lead field the publisher left out is: ``exists``/``not_exists`` rules read it so.
    """

    def __init__(
        self, values: Mapping[str, Any], *, lead_id: str, is_test: bool, now: datetime
    ) -> None:
        self._values = values
        self._lead_id = lead_id
        self._is_test = is_test
        self._now = now
        self._known: dict[str, Any] = {}
        self._location: tuple[str, str] | None | bool = False  # False: not asked yet

    def record(self) -> None:
        """Count this lead in the velocity buckets (once per lead, however often called)."""
        if self._is_test:
            return
        for kind, digest in self._digests().items():
            _count_once(kind, digest, self._lead_id, self._now)

    def _digests(self) -> dict[str, str]:
        out = {}
        ip = _text(self._values, "ip_address")
        if ip:
            out["ip"] = lookup_hash("ip", ip.lower())
        phone = normalize_phone(_text(self._values, "phone"))
        if phone:
            out["phone"] = lookup_hash("phone", phone)
        return out

    def _compute(self, key: str) -> Any:
        name = key.removeprefix(PREFIX)
        if name == "disposable_email":
            email = _text(self._values, "email")
            return is_disposable(email) if "@" in email else None
        if name in ("velocity_ip", "velocity_phone"):
            kind = name.removeprefix("velocity_")
            digest = self._digests().get(kind)
            return velocity(kind, digest, self._now) if digest else None
        if name == "phone_line_type":
            phone = _text(self._values, "phone")
            return _ask(lambda: lookup().phone_line_type(phone)) if phone else None
        location = self._ip_location()
        if location is None:
            return None
        country, region = location
        if name == "ip_country":
            return country
        if name == "ip_region":
            return region
        state = _text(self._values, "state")  # ip_matches_state
        return region.upper() == state.upper() if state else None

    def _ip_location(self) -> tuple[str, str] | None:
        if self._location is False:
            ip = _text(self._values, "ip_address")
            self._location = _ask(lambda: lookup().ip_location(ip)) if ip else None
        return self._location  # type: ignore[return-value]

    def __getitem__(self, key: str) -> Any:
        if key not in QUALITY_FIELDS:
            raise KeyError(key)
        if key not in self._known:
            self._known[key] = self._compute(key)
        value = self._known[key]
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        if key not in QUALITY_FIELDS:
            return False
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return (k for k in sorted(QUALITY_FIELDS) if k in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def trace_entry(self, stage: str) -> dict[str, Any] | None:
        """What was worked out for this lead, for its trace; None when nothing was."""
        if not self._known:
            return None
        shown = ", ".join(
            f"{k.removeprefix(PREFIX)}={_show(v)}" for k, v in sorted(self._known.items())
        )
        return {"check": "quality", "stage": stage, "pinged": False, "reason": f"quality: {shown}"}


def _show(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ask(call: Any) -> Any:
    try:
        return call()
    except Exception:  # a lookup service down must not stop the sale: signal unknown
        log.warning("quality lookup failed", exc_info=True)
        return None


def _minutes() -> int:
    return int(settings.SWITCHYARD["QUALITY_VELOCITY_MINUTES"])


def _buckets(kind: str, digest: str, now: datetime) -> list[str]:
    minute = int(now.timestamp() // 60)
    return [f"qv:{kind}:{digest}:{m}" for m in range(minute - _minutes() + 1, minute + 1)]


def _count_once(kind: str, digest: str, lead_id: str, now: datetime) -> None:
    ttl = _minutes() * 60 + 60
    # The auction and the checks at post both see a direct post: count it once.
    if not shared_cache.add(f"qv:seen:{kind}:{lead_id}", 1, timeout=ttl):
        return
    name = _buckets(kind, digest, now)[-1]
    if shared_cache.add(name, 1, timeout=ttl):
        return
    try:
        shared_cache.incr(name)
    except ValueError:  # expired between add and incr
        shared_cache.add(name, 1, timeout=ttl)


def velocity(kind: str, digest: str, now: datetime) -> int:
    """Leads counted for this IP or phone digest within the window."""
    return sum(int(v) for v in shared_cache.get_many(_buckets(kind, digest, now)).values())


def with_signals(values: Mapping[str, Any], signals: Signals) -> Mapping[str, Any]:
    """``values`` as filters read them, plus the signals (which a lead cannot forge)."""
    return _WithSignals(values, signals)


class _WithSignals(Mapping[str, Any]):
    __slots__ = ("_signals", "_values")

    def __init__(self, values: Mapping[str, Any], signals: Signals) -> None:
        self._values, self._signals = values, signals

    def __getitem__(self, key: str) -> Any:
        if key.startswith(PREFIX):
            return self._signals[key]
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key.startswith(PREFIX):
            return self._signals.get(key, default)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str) and key.startswith(PREFIX):
            return key in self._signals
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in self._values if not str(k).startswith(PREFIX))
        yield from self._signals

    def __len__(self) -> int:
        return sum(1 for _ in self)
