"""Outbound throttles (SPEC §5): at most N pings to a campaign in any window of ``per``.

A campaign throttled at ``{"pings": 5, "per": "1s"}`` owns 5 slots in the shared cache
(Redis in production, the same cache as the API rate limits). A ping takes a free slot
with an atomic add that expires after ``per``: at most N slots are held at any instant
and each ping holds one for the whole window, so no window of ``per`` ever sees more
than N pings, across every web process. (A fixed-window counter would let 2N through
around a window's edge.) A ping first tries one slot at random (one ``add``: while the
throttle is far from full, that is all it costs); when that one is held, one
``get_many`` reads the campaign's slots and a free one, if any, is taken.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError

MAX_PINGS = 1000  # slots are read in one get_many: keep it bounded
MAX_SECONDS = 86400
_PER_RE = re.compile(r"^(\d+)(s|m|h)$")
_UNIT = {"s": 1, "m": 60, "h": 3600}
_ATTEMPTS = 3  # slots lost to other processes in a race before giving up this ping


@dataclass(frozen=True, slots=True)
class ThrottleSpec:
    pings: int
    seconds: int
    per: str

    def __str__(self) -> str:
        return f"{self.pings} pings per {self.per}"


def throttle_problems(value: Any) -> list[str]:
    """Readable problems with a throttle (empty when valid or empty)."""
    if value in (None, {}, ""):
        return []
    if not isinstance(value, dict):
        return ['throttle must be a table such as {"pings": 300, "per": "5m"}']
    problems = [f"unexpected key {key!r}" for key in value if key not in ("pings", "per")]
    pings = value.get("pings")
    if isinstance(pings, bool) or not isinstance(pings, int) or not 1 <= pings <= MAX_PINGS:
        problems.append(f"pings must be a whole number from 1 to {MAX_PINGS}")
    per = value.get("per")
    found = _PER_RE.match(per) if isinstance(per, str) else None
    if found is None:
        problems.append('per must be a duration such as "1s", "1m", "5m" or "1h"')
    elif not 1 <= int(found.group(1)) * _UNIT[found.group(2)] <= MAX_SECONDS:
        problems.append("per must be from 1s to 24h")
    return problems


def validate_throttle(value: Any) -> None:
    problems = throttle_problems(value)
    if problems:
        raise ValidationError(problems)


def parse_throttle(value: Any) -> ThrottleSpec | None:
    """The compiled throttle, None when there is none. Raises ``ValueError`` when invalid."""
    if not value:
        return None
    problems = throttle_problems(value)
    if problems:
        raise ValueError("throttle: " + "; ".join(problems))
    found = _PER_RE.match(value["per"])
    assert found is not None  # validated above
    return ThrottleSpec(value["pings"], int(found.group(1)) * _UNIT[found.group(2)], value["per"])


def _slot(campaign_id: int, spec: ThrottleSpec, number: int) -> str:
    # The limit is in the name: a changed throttle starts on fresh slots.
    return f"thr:{campaign_id}:{spec.pings}:{spec.seconds}:{number}"


# Per process: (campaign, pings, seconds) -> when its earliest held slot expires, known
# from a read that found every slot held. No slot can free up before then, so until
# then this process skips the campaign without asking the cache.
_full_until: dict[tuple[int, int, int], float] = {}


def forget() -> None:
    """Drop what this process knows of full throttles (tests start afresh)."""
    _full_until.clear()


def take(wanted: Iterable[tuple[int, ThrottleSpec]]) -> set[int]:
    """Take one ping slot for each campaign; returns the ids of those throttled."""
    now = time.time()
    throttled = set()
    pending = []
    for cid, spec in wanted:
        if _full_until.get((cid, spec.pings, spec.seconds), 0) > now:
            throttled.add(cid)
        # A random slot first: while a throttle is far from full it is free, one round trip.
        elif not cache.add(_slot(cid, spec, random.randrange(spec.pings)), now + spec.seconds,
                           timeout=spec.seconds):  # fmt: skip
            pending.append((cid, spec))
    if not pending:
        return throttled
    names = {cid: [_slot(cid, spec, n) for n in range(spec.pings)] for cid, spec in pending}
    held = cache.get_many([name for group in names.values() for name in group])
    for cid, spec in pending:
        free = [name for name in names[cid] if name not in held]
        # Random order: processes racing for the last slots seldom pick the same one.
        random.shuffle(free)
        for name in free[:_ATTEMPTS]:
            if cache.add(name, time.time() + spec.seconds, timeout=spec.seconds):
                break
        else:
            throttled.add(cid)
            if not free:  # each slot holds its expiry time
                expiries = [held[name] for name in names[cid] if isinstance(held.get(name), float)]
                if expiries:
                    _full_until[(cid, spec.pings, spec.seconds)] = min(expiries)
    return throttled
