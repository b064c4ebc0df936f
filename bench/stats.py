"""From raw samples to the figures of one step (one target at one rate)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# A step whose errors pass this share, or whose p99 passes floor + this, is past
# saturation: higher rates for that target would only measure a growing queue.
OVERLOAD_ERROR_SHARE = 0.05
OVERLOAD_EXTRA_MS = 500.0
# "Sustained" tolerates at most this share of errors (one in a thousand).
SUSTAINED_ERROR_SHARE = 0.001


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted ``values``; NaN if empty."""
    if not values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(values)))
    return values[min(rank, len(values)) - 1]


def spread(values: Iterable[float]) -> dict[str, float]:
    """p50, p99, p99.9 and max of ``values``."""
    ordered = sorted(values)
    return {
        "p50": percentile(ordered, 50),
        "p99": percentile(ordered, 99),
        "p99.9": percentile(ordered, 99.9),
        "max": ordered[-1] if ordered else math.nan,
    }


@dataclass
class Step:
    """What one target did at one offered rate."""

    target: str
    rate: float
    duration_s: float
    sent: int
    ok: int
    accepted: int
    errors: dict[str, int]
    latency_ms: dict[str, float]
    overhead_ms: dict[str, float]
    late: int
    cpu_s: float | None
    # Answers the target itself timed past the deadline (its Server-Timing ``total``,
    # from the request reaching the view to the answer); None without that header.
    late_server: int | None = None
    phases_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    # From the first request's due time to the last answer, less the floor every
    # answer waits anyway: longer than duration_s when the target falls behind.
    span_s: float = 0.0
    # Pings each buyer got per ping sent (warm-up included): 1.0 when all were awaited.
    fleet_pings: dict[str, float] = field(default_factory=dict)
    # The rig's own CPU: a fleet or load generator near one core limits the step.
    fleet_cpu_s: float | None = None
    load_cpu_s: float | None = None
    # Cores busy with processes outside this run (other users of a shared machine).
    other_load_cores: float | None = None
    # Of those, cores the hypervisor gave to other guests (steal): a disturbed run.
    stolen_cores: float | None = None
    skipped: bool = False

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        """Well-formed answers per second, from the first due time to the last answer."""
        span = max(self.span_s, self.duration_s)
        return self.ok / span if span else 0.0

    @property
    def cpu_ms_per_ping(self) -> float | None:
        if self.cpu_s is None or not self.sent:
            return None
        return self.cpu_s * 1000 / self.sent

    def sustained(self, p99_target_ms: float) -> bool:
        """Within the p99 target, (almost) no errors, and keeping up with the rate."""
        return (
            not self.skipped
            and self.sent > 0
            and self.error_count <= SUSTAINED_ERROR_SHARE * self.sent
            and self.latency_ms["p99"] <= p99_target_ms
            and self.throughput >= 0.95 * self.rate
        )

    def overloaded(self, floor_ms: float) -> bool:
        return self.sent > 0 and (
            self.error_count > OVERLOAD_ERROR_SHARE * self.sent
            or self.latency_ms["p99"] > floor_ms + OVERLOAD_EXTRA_MS
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rate": self.rate,
            "skipped": self.skipped,
            "duration_s": self.duration_s,
            "sent": self.sent,
            "ok": self.ok,
            "accepted": self.accepted,
            "errors": self.errors,
            "latency_ms": self.latency_ms,
            "overhead_ms": self.overhead_ms,
            "late": self.late,
            "late_server": self.late_server,
            "throughput": self.throughput,
            "cpu_s": _round(self.cpu_s),
            "cpu_ms_per_ping": self.cpu_ms_per_ping,
            "phases_ms": self.phases_ms,
            "span_s": self.span_s,
            "fleet_pings_per_ping": self.fleet_pings,
            "fleet_cpu_s": _round(self.fleet_cpu_s),
            "load_cpu_s": _round(self.load_cpu_s),
            "other_load_cores": _round(self.other_load_cores),
            "stolen_cores": _round(self.stolen_cores),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def summarise(
    target: str,
    rate: float,
    duration_s: float,
    samples: Sequence[dict[str, Any]],
    *,
    floor_ms: float,
    deadline_ms: float,
    cpu_s: float | None,
) -> Step:
    """The figures of one step from the load generator's samples."""
    latencies = [s["ms"] for s in samples]
    latency = spread(latencies)
    errors = Counter(s["error"] for s in samples if s["error"])
    # Phases in the order the server names them (the order of the request's work).
    phase_names = list(dict.fromkeys(name for s in samples for name in s.get("phases", {})))
    phases = {name: spread(phases_of(samples, name)) for name in phase_names}
    return Step(
        target=target,
        rate=rate,
        duration_s=duration_s,
        sent=len(samples),
        ok=sum(1 for s in samples if not s["error"]),
        accepted=sum(1 for s in samples if s.get("accepted")),
        errors=dict(errors),
        latency_ms=latency,
        overhead_ms={k: v - floor_ms for k, v in latency.items()},
        late=sum(1 for ms in latencies if ms > deadline_ms),
        late_server=(
            sum(1 for ms in phases_of(samples, "total") if ms > deadline_ms)
            if "total" in phases
            else None
        ),
        cpu_s=cpu_s,
        phases_ms=phases,
        span_s=max((s["due_s"] + (s["ms"] - floor_ms) / 1000 for s in samples), default=0.0),
    )


def phases_of(samples: Sequence[dict[str, Any]], name: str) -> list[float]:
    return [s["phases"][name] for s in samples if name in s.get("phases", {})]


def skipped_step(target: str, rate: float) -> Step:
    """A rate not run because the target was already overloaded at a lower one."""
    nan = {"p50": math.nan, "p99": math.nan, "p99.9": math.nan, "max": math.nan}
    return Step(target, rate, 0.0, 0, 0, 0, {}, dict(nan), dict(nan), 0, None, skipped=True)
