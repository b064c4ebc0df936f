"""What a run prints and stores: the header, a line per step, the tables, the JSON."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import report
from .exchange import RunningExchange
from .procs import REPO_ROOT
from .scenario import FLEET, deadline_ms, floor_ms
from .stats import Step
from .steps import Options

# Above this, other processes on the machine visibly share the cores with the run.
NOISY_NEIGHBOUR_CORES = 0.25


def header(opts: Options, exchange: RunningExchange | None) -> str:
    """The lines printed before the first step: scenario, bounds, server."""
    buyers = ", ".join(
        f"{b.name} {'hangs' if b.hangs else f'{b.latency_ms} ms'} (timeout {b.timeout_ms})"
        for b in FLEET
    )
    server = (
        f"exchange: {opts.server} {opts.workers}x{opts.threads} threads, {exchange.database}"
        if exchange
        else "exchange: not measured"
    )
    return (
        f"\nbuyers: {buyers}\nfloor {floor_ms()} ms, deadline {deadline_ms()} ms, "
        f"p99 target {opts.p99_target_ms:g} ms; {server}\n"
        f"steps: {opts.warmup_s:g} s warm-up + {opts.duration_s:g} s measured per rate\n"
    )


def progress(step: Step) -> str:
    """One line per step as it ends, with warnings about the rig or the machine."""
    if step.skipped:
        return f"  {step.target:<9} {step.rate:>6g}/s  skipped: overloaded at a lower rate"
    warn = ""
    if step.fleet_pings.get("hung", 0.0) < 0.95:
        warn += "  WARNING: the hung buyer was not pinged every time"
    if (step.other_load_cores or 0.0) > NOISY_NEIGHBOUR_CORES:
        stolen = step.stolen_cores or 0.0
        warn += f"  WARNING: other processes used {step.other_load_cores:.2f} cores"
        warn += f" ({stolen:.2f} taken by the hypervisor)" if stolen >= 0.01 else ""
    return (
        f"  {step.target:<9} {step.rate:>6g}/s  p50 {step.latency_ms['p50']:7.1f}"
        f"  p99 {step.latency_ms['p99']:7.1f}  p99.9 {step.latency_ms['p99.9']:7.1f} ms"
        f"  errors {step.error_count}  late {step.late}"
        f"  cpu {_ms(step.cpu_ms_per_ping)} ms/ping{warn}"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def machine() -> dict[str, Any]:
    """Where the figures came from: CPU, cores, platform, Python, commit."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
    }


def results(
    opts: Options, steps: list[Step], posts: list[dict] | None, exchange: RunningExchange | None
) -> dict[str, Any]:
    """Everything of the run, for ``bench/results/latest.json``."""
    ordered = sorted(steps, key=lambda s: (s.target, s.rate))
    sustained = {
        name: report.best_sustained(steps, name, opts.p99_target_ms)
        for name in sorted({s.target for s in steps})
    }
    base, ex = sustained.get("baseline"), sustained.get("exchange")
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "scenario": {
            "buyers": [asdict(b) | {"bid": str(b.bid)} for b in FLEET],
            "floor_ms": floor_ms(),
            "deadline_ms": deadline_ms(),
            "p99_target_ms": opts.p99_target_ms,
        },
        "options": asdict(opts) | {"out": str(opts.out)},
        "exchange": (
            {"database": exchange.database, "command": exchange.command[1:]} if exchange else None
        ),
        "steps": [s.as_dict() for s in ordered],
        "comparison": report.comparisons(steps, "baseline", "exchange"),
        "sustained_rate": sustained | {"ratio": (ex / base) if base and ex is not None else None},
        "posts": (report.post_summary(posts) | {"records": posts}) if posts else None,
    }


def tables(opts: Options, steps: list[Step], results: dict[str, Any]) -> str:
    """The printed report: steps, exchange vs baseline, phases, sustained rates, posts."""
    ordered = sorted(steps, key=lambda s: (s.target, s.rate))
    parts = [
        f"\nLatency per target and rate (ms; 'over' = above the {floor_ms()} ms floor; "
        f"late = answers after {deadline_ms()} ms; cpu = server processes' CPU per ping)",
        report.step_table(ordered, opts.p99_target_ms),
    ]
    if results["comparison"]:
        parts += [
            "\nExchange vs baseline (Δ = exchange - baseline; × = exchange / baseline; "
            f"SPEC §11: Δp50 <= {report.SPEC_DELTA_P50_MS:g}, Δp99 <= "
            f"{report.SPEC_DELTA_P99_MS:g}, no late answer, no error)",
            report.comparison_table(results["comparison"]),
        ]
    if any(s.phases_ms for s in steps):
        parts += ["\nExchange phases from Server-Timing (ms)", report.phase_table(ordered)]
    sustained = results["sustained_rate"]
    lines = [f"  {name}: {_rate(rate)}" for name, rate in sustained.items() if name != "ratio"]
    if sustained.get("ratio") is not None:
        lines.append(f"  exchange / baseline: {sustained['ratio']:.2f}")
    parts += [
        f"\nHighest rate sustained (p99 <= {opts.p99_target_ms:g} ms, errors <= 0.1%, "
        "keeping up with the rate)",
        *lines,
    ]
    if results["posts"]:
        summary = results["posts"]
        parts += [
            f"\nPosts: {summary['leads']} leads, answers {summary['statuses']}",
            report.post_table(summary),
        ]
    return "\n".join(parts)


def _rate(rate: float | None) -> str:
    return "none of the rates tried" if rate is None or math.isnan(rate) else f"{rate:g} pings/s"
