"""The scenario every target is measured on: the simulated buyers, their timeouts, the
lead that is pinged, and the bounds (floor, deadline) the figures are read against.

The baseline, the exchange's configuration and the fleet all read this one module, so
the two targets ping exactly the same buyers with exactly the same timeouts.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

VERTICAL_SLUG = "bench"
PING_LEAD: dict[str, Any] = {"zip": "75001", "state": "TX"}
# How long a hung buyer sleeps: far past its timeout, short enough that the fleet does
# not pile up thousands of sleeping handlers at high rates.
HANG_SECONDS = 2.0
# How long every buyer takes to answer a post; the post figures subtract nothing.
POST_LATENCY_MS = 10
POST_TIMEOUT_MS = 2000


@dataclass(frozen=True, slots=True)
class BuyerSpec:
    """One simulated buyer: how fast it bids, what, and whether it buys on post."""

    name: str
    latency_ms: int
    bid: Decimal
    timeout_ms: int
    accepts_posts: bool = True
    hangs: bool = False

    @property
    def awaited_ms(self) -> int:
        """What a parallel auction waits for this buyer: its answer, or its timeout."""
        return self.timeout_ms if self.hangs else min(self.latency_ms, self.timeout_ms)


# Five buyers, as in SPEC §11. "picky" bids highest among those that answer but
# rejects every post, so each post takes one waterfall hop (picky -> slow).
FLEET: tuple[BuyerSpec, ...] = (
    BuyerSpec("quick", 20, Decimal("10.00"), 150),
    BuyerSpec("picky", 30, Decimal("16.00"), 150, accepts_posts=False),
    BuyerSpec("steady", 50, Decimal("12.00"), 150),
    BuyerSpec("slow", 100, Decimal("14.00"), 150),
    BuyerSpec("hung", 0, Decimal("20.00"), 150, hangs=True),
)


def floor_ms(fleet: tuple[BuyerSpec, ...] = FLEET) -> int:
    """The least any parallel auction over ``fleet`` can take: the slowest awaited buyer."""
    return max(b.awaited_ms for b in fleet)


def deadline_ms(fleet: tuple[BuyerSpec, ...] = FLEET) -> int:
    """SPEC §11: no answer later than the longest timeout + 10 ms."""
    return max(b.timeout_ms for b in fleet) + 10


def ping_body(vertical: str = VERTICAL_SLUG) -> dict[str, Any]:
    return {"vertical": vertical, "lead": dict(PING_LEAD)}


_person = itertools.count(1)
_run_tag = secrets.token_hex(3)


def post_lead() -> dict[str, Any]:
    """A full lead for a post: a new person each time, so duplicate checks never
    refuse it, even across runs against the same database."""
    n = next(_person)
    return {
        **PING_LEAD,
        "first_name": "Bench",
        "last_name": f"Lead{n}",
        "email": f"bench-{_run_tag}-{n}@example.com",
        # 214-2xx-xxxx is a valid Dallas range; the tag keeps runs apart.
        "phone": f"214{200 + secrets.randbelow(800):03d}{secrets.randbelow(10000):04d}",
    }
