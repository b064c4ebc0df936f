"""The printed tables and ``bench/results/latest.json``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from .stats import Step, spread

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# SPEC §11: what the exchange may add to the baseline.
SPEC_DELTA_P50_MS = 3.0
SPEC_DELTA_P99_MS = 10.0


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain right-aligned text table (the first column left-aligned)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(parts))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b <= 0:
        return None
    return a / b


def best_sustained(steps: Sequence[Step], target: str, p99_target_ms: float) -> float | None:
    """The highest rate ``target`` sustained (every lower rate need not have passed)."""
    rates = [s.rate for s in steps if s.target == target and s.sustained(p99_target_ms)]
    return max(rates) if rates else None


def step_table(steps: Sequence[Step], p99_target_ms: float) -> str:
    headers = [
        "target", "rate/s", "sent", "errors", "accepted%", "p50 ms", "p99 ms", "p99.9 ms",
        "max ms", "over p50", "over p99", "over p99.9", "late", "late (server)", "cpu ms/ping",
        "ok/s",
        "other cores", "stolen", "sustained",
    ]  # fmt: skip
    rows = []
    for s in steps:
        if s.skipped:
            rows.append([s.target, f"{s.rate:g}"] + ["-"] * 16 + ["skipped"])
            continue
        rows.append(
            [
                s.target,
                f"{s.rate:g}",
                s.sent,
                s.error_count,
                100.0 * s.accepted / s.sent if s.sent else None,
                s.latency_ms["p50"],
                s.latency_ms["p99"],
                s.latency_ms["p99.9"],
                s.latency_ms["max"],
                s.overhead_ms["p50"],
                s.overhead_ms["p99"],
                s.overhead_ms["p99.9"],
                s.late,
                "-" if s.late_server is None else s.late_server,
                s.cpu_ms_per_ping,
                s.throughput,
                s.other_load_cores,
                s.stolen_cores,
                "yes" if s.sustained(p99_target_ms) else "no",
            ]
        )
    return table(headers, rows)


def comparisons(steps: Sequence[Step], base: str, other: str) -> list[dict[str, Any]]:
    """Per rate: ``other`` minus ``base`` and their ratios, and whether SPEC §11 holds."""
    by_key = {(s.target, s.rate): s for s in steps if not s.skipped}
    out = []
    for rate in sorted({s.rate for s in steps}):
        a, b = by_key.get((base, rate)), by_key.get((other, rate))
        if a is None or b is None:
            continue
        delta = {q: b.latency_ms[q] - a.latency_ms[q] for q in ("p50", "p99", "p99.9")}
        out.append(
            {
                "rate": rate,
                "delta_ms": delta,
                "latency_ratio": {q: _ratio(b.latency_ms[q], a.latency_ms[q]) for q in delta},
                "overhead_ratio": {q: _ratio(b.overhead_ms[q], a.overhead_ms[q]) for q in delta},
                "cpu_ratio": _ratio(b.cpu_ms_per_ping, a.cpu_ms_per_ping),
                "late": {"server": b.late_server, other: b.late, base: a.late},
                "meets_spec": delta["p50"] <= SPEC_DELTA_P50_MS
                and delta["p99"] <= SPEC_DELTA_P99_MS
                and (b.late if b.late_server is None else b.late_server) == 0
                and b.error_count == 0,
            }
        )
    return out


def comparison_table(rows: Sequence[dict[str, Any]]) -> str:
    headers = [
        "rate/s", "Δp50 ms", "Δp99 ms", "Δp99.9 ms", "p50 ×", "p99 ×",
        "over p50 ×", "over p99 ×", "cpu ×", "late server/client/base", "SPEC §11",
    ]  # fmt: skip
    body = [
        [
            f"{r['rate']:g}",
            r["delta_ms"]["p50"],
            r["delta_ms"]["p99"],
            r["delta_ms"]["p99.9"],
            _two(r["latency_ratio"]["p50"]),
            _two(r["latency_ratio"]["p99"]),
            _two(r["overhead_ratio"]["p50"]),
            _two(r["overhead_ratio"]["p99"]),
            _two(r["cpu_ratio"]),
            "/".join("-" if n is None else str(n) for n in r["late"].values()),
            "meets" if r["meets_spec"] else "misses",
        ]
        for r in rows
    ]
    return table(headers, body)


def _two(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# The exchange's phases in the order a ping goes through them; others follow as seen.
PHASES = ("parse", "eligibility", "fanout", "ranking", "ahead", "write", "total")


def phase_table(steps: Sequence[Step]) -> str:
    seen = dict.fromkeys(n for s in steps for n in s.phases_ms)
    names = [n for n in PHASES if n in seen] + [n for n in seen if n not in PHASES]
    headers = ["target", "rate/s"] + [f"{n} p50/p99" for n in names]
    rows = [
        [s.target, f"{s.rate:g}"]
        + [
            f"{_fmt(s.phases_ms[n]['p50'], 2)}/{_fmt(s.phases_ms[n]['p99'], 2)}"
            if n in s.phases_ms
            else "-"
            for n in names
        ]
        for s in steps
        if s.phases_ms
    ]
    return table(headers, rows)


def post_summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Post delivery figures from the post flow's per-lead records."""
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1

    def of(key: str) -> dict[str, float]:
        return spread(r[key] for r in records if r.get(key) is not None)

    return {
        "leads": len(records),
        "statuses": statuses,
        "post_answer_ms": of("post_ms"),
        "first_delivery_ms": of("first_ms"),
        "waterfall_hop_ms": of("hop_ms"),
    }


def post_table(summary: dict[str, Any]) -> str:
    labels = {
        "first_delivery_ms": "publisher sent post -> first buyer received it",
        "waterfall_hop_ms": "first buyer rejected -> next buyer received it",
        "post_answer_ms": "whole post answer (two buyers at 10 ms each included)",
    }
    rows = [
        [label, summary[key]["p50"], summary[key]["p99"], summary[key]["max"]]
        for key, label in labels.items()
    ]
    return table(["post delivery overhead", "p50 ms", "p99 ms", "max ms"], rows)


def write_json(data: dict[str, Any], path: Path | None = None) -> Path:
    path = path or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return path
