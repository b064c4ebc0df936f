"""``python -m bench.mixed`` (the second half of ``make bench``): buyers with different
timeouts, the hung one with the SHORTEST, so the answer may come at its timeout.

The main scenario gives every buyer the same timeout, so a ping that waited for the
longest timeout looked exactly like one that waited for the hung buyer's own: this one
tells them apart. Every other buyer answers well before the hung buyer's timeout, so
the floor is that timeout and whatever comes after it is what the hung buyer cost
beyond its own timeout (SPEC §11: at most 10 ms at p99).

It starts its own fleet, a baseline over the same fleet and the exchange (vertical
``bench-mixed``), loads them in turns at each rate (25 and 50 pings/s by default) and
prints, per target and rate, what came after the hung buyer's timeout: as the load
generator saw it (the rig's own share is the baseline's figure), as the exchange timed
itself (Server-Timing ``total``), and in its fan-out wait alone. Results go to
``bench/results/mixed.json``.

``python -m bench.mixed fleet --port N`` / ``baseline --port N --fleet URL`` /
``setup --fleet URL`` are the pieces it starts.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from . import report
from .exchange import SERVERS, start_exchange
from .procs import (
    REPO_ROOT,
    BenchError,
    Processes,
    die_with_parent,
    free_port,
    run_in_scratch,
    wait_http,
)
from .scenario import BuyerSpec, floor_ms, ping_body
from .stats import Step, summarise
from .steps import SETTLE_S, CpuMark, Target, http_json

VERTICAL = "bench-mixed"
MIXED_FLEET: tuple[BuyerSpec, ...] = (
    BuyerSpec("quick", 20, Decimal("10.00"), 300),
    BuyerSpec("picky", 30, Decimal("16.00"), 400),
    BuyerSpec("steady", 50, Decimal("12.00"), 600),
    BuyerSpec("slow", 100, Decimal("14.00"), 1000),
    BuyerSpec("hung", 0, Decimal("20.00"), 150, hangs=True),
)
HUNG = next(b for b in MIXED_FLEET if b.hangs)
# SPEC §11: what a hung buyer may add to its own timeout, at p99.
GOAL_MS = 10.0
DEFAULT_RATES = (25.0, 50.0)


@dataclass
class MixedOptions:
    rates: tuple[float, ...] = DEFAULT_RATES
    duration_s: float = 12.0
    warmup_s: float = 2.0
    timeout_s: float = 5.0
    targets: tuple[str, ...] = ("baseline", "exchange")
    workers: int = 2
    threads: int = 16
    server: str = "granian"
    out: Path = report.RESULTS_DIR / "mixed.json"


def parse_args(argv: Sequence[str] | None = None) -> MixedOptions:
    parser = argparse.ArgumentParser(prog="python -m bench.mixed", description=__doc__)
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in DEFAULT_RATES))
    parser.add_argument("--duration", type=float, default=12.0, help="measured s per step")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured s per step")
    parser.add_argument("--targets", default="baseline,exchange")
    parser.add_argument("--server", choices=SERVERS, default="granian")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--out", type=Path, default=report.RESULTS_DIR / "mixed.json")
    args = parser.parse_args(argv)
    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    if not targets or set(targets) - {"baseline", "exchange"}:
        parser.error("targets are baseline and/or exchange")
    return MixedOptions(
        rates=tuple(float(r) for r in args.rates.split(",") if r.strip()),
        duration_s=args.duration,
        warmup_s=args.warmup,
        targets=targets,
        workers=args.workers,
        threads=args.threads,
        server=args.server,
        out=args.out,
    )


def _load(
    target: Target, rate: float, opts: MixedOptions, tmp: Path, fleet_pid: int
) -> tuple[list[dict[str, Any]], CpuMark | None, CpuMark | None]:
    out = tmp / f"mixed-{target.name}-{rate:g}.json"
    argv = [
        sys.executable, "-m", "bench.load", "--url", target.ping_url, "--rate", str(rate),
        "--duration", str(opts.duration_s), "--warmup", str(opts.warmup_s),
        "--timeout", str(opts.timeout_s), "--out", str(out), "--vertical", VERTICAL,
    ]  # fmt: skip
    if target.key:
        argv += ["--key", target.key]
    start = end = None
    with subprocess.Popen(
        argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent
    ) as load:
        try:
            assert load.stdout is not None
            for line in load.stdout:
                if line.strip() == "measuring":
                    start = CpuMark.take(target.pid, fleet_pid, load.pid)
                elif line.strip() == "done":
                    end = CpuMark.take(target.pid, fleet_pid, load.pid)
            load.wait(timeout=opts.timeout_s + 30)
        finally:
            if load.poll() is None:
                load.kill()
    if load.returncode != 0:
        raise BenchError(f"the load generator failed ({load.returncode}) on {target.name}")
    return orjson.loads(out.read_bytes()), start, end


def run_step(
    target: Target, rate: float, opts: MixedOptions, fleet_url: str, fleet_pid: int, tmp: Path
) -> Step:
    http_json(f"{fleet_url}/_reset", {})
    time.sleep(SETTLE_S)
    samples, start, end = _load(target, rate, opts, tmp, fleet_pid)
    step = summarise(
        target.name,
        rate,
        opts.duration_s,
        samples,
        floor_ms=floor_ms(MIXED_FLEET),
        deadline_ms=HUNG.timeout_ms + GOAL_MS,
        cpu_s=end.target - start.target if start and end else None,
    )
    if start and end and end.wall > start.wall:
        foreign = (end.machine - start.machine) - (end.run - start.run)
        step.other_load_cores = max(0.0, foreign / (end.wall - start.wall))
        step.stolen_cores = max(0.0, (end.stolen - start.stolen) / (end.wall - start.wall))
    pings = http_json(f"{fleet_url}/_stats")["pings"]
    sent = round(rate * (opts.warmup_s + opts.duration_s))
    step.fleet_pings = {b.name: pings.get(b.name, 0) / sent for b in MIXED_FLEET}
    return step


def beyond_timeout(step: Step) -> dict[str, Any]:
    """What came after the hung buyer's own timeout, at p50/p99: at the client, by the
    exchange's own clock (``total``) and in its fan-out wait (``fanout``)."""

    def past(spread: dict[str, float] | None) -> dict[str, float] | None:
        if not spread:
            return None
        return {q: spread[q] - HUNG.timeout_ms for q in ("p50", "p99", "max")}

    client = past(step.latency_ms)
    return {
        "target": step.target,
        "rate": step.rate,
        "sent": step.sent,
        "errors": step.error_count,
        "accepted": step.accepted,
        "client_ms": client,
        "server_total_ms": past(step.phases_ms.get("total")),
        "fanout_ms": past(step.phases_ms.get("fanout")),
        "hung_pinged_per_ping": step.fleet_pings.get(HUNG.name),
        "other_load_cores": step.other_load_cores,
        "stolen_cores": step.stolen_cores,
        "meets_goal": client is not None and client["p99"] <= GOAL_MS and not step.error_count,
    }


def _pair(spread: dict[str, float] | None) -> str:
    if not spread or any(math.isnan(spread[q]) for q in ("p50", "p99")):
        return "-"
    return f"{spread['p50']:.1f}/{spread['p99']:.1f}"


def mixed_table(rows: Sequence[dict[str, Any]]) -> str:
    headers = [
        "target", "rate/s", "sent", "errors", "client p50/p99", "server p50/p99",
        "fan-out p50/p99", "hung pinged", "other cores", f"p99 <= {GOAL_MS:g}",
    ]  # fmt: skip
    body = [
        [
            r["target"],
            f"{r['rate']:g}",
            r["sent"],
            r["errors"],
            _pair(r["client_ms"]),
            _pair(r["server_total_ms"]),
            _pair(r["fanout_ms"]),
            r["hung_pinged_per_ping"],
            r["other_load_cores"],
            "yes" if r["meets_goal"] else "no",
        ]
        for r in rows
    ]
    return report.table(headers, body)


def run(opts: MixedOptions, procs: Processes, tmp: Path, say: Any = print) -> dict[str, Any]:
    """Start the pieces, load each target at each rate; the figures (also written to
    ``opts.out``)."""
    python = sys.executable
    fleet_port = free_port()
    fleet_url = f"http://127.0.0.1:{fleet_port}"
    fleet = procs.start(
        "mixed-fleet", [python, "-m", "bench.mixed", "fleet", "--port", str(fleet_port)]
    )
    wait_http(f"{fleet_url}/_stats", fleet)
    targets: list[Target] = []
    if "baseline" in opts.targets:
        port = free_port()
        child = procs.start(
            "mixed-baseline",
            [python, "-m", "bench.mixed", "baseline", "--port", str(port), "--fleet", fleet_url],
        )
        wait_http(f"http://127.0.0.1:{port}/ping", child)
        targets.append(Target("baseline", f"http://127.0.0.1:{port}/ping", child.pid))
    database = None
    if "exchange" in opts.targets:
        say(f"starting the exchange (migrate, configure {VERTICAL}, {opts.server})…")
        exchange = start_exchange(
            procs, tmp, fleet_url, workers=opts.workers, threads=opts.threads,
            server=opts.server, setup=("-m", "bench.mixed", "setup"),
        )  # fmt: skip
        database = exchange.database
        targets.append(
            Target("exchange", f"{exchange.url}/api/v1/ping", exchange.child.pid, exchange.key)
        )
        # One ping first: connections and the configuration cache warm, as in production.
        headers = {"Authorization": f"Bearer {exchange.key}"}
        http_json(targets[-1].ping_url, ping_body(VERTICAL), headers)

    buyers = ", ".join(
        f"{b.name} {'hangs' if b.hangs else f'{b.latency_ms} ms'} (timeout {b.timeout_ms})"
        for b in MIXED_FLEET
    )
    say(f"\nmixed timeouts: {buyers}\nfloor = the hung buyer's timeout, {HUNG.timeout_ms} ms")
    steps: list[Step] = []
    for n, rate in enumerate(opts.rates):
        for target in targets if n % 2 == 0 else list(reversed(targets)):
            step = run_step(target, rate, opts, fleet_url, fleet.pid, tmp)
            steps.append(step)
            over = step.overhead_ms
            say(
                f"  {target.name:<9} {rate:>5g}/s  beyond the hung buyer's timeout:"
                f" p50 {over['p50']:.1f}  p99 {over['p99']:.1f} ms  errors {step.error_count}"
            )
    rows = [beyond_timeout(s) for s in steps]
    say(
        "\nWhat came after the hung buyer's own timeout (ms, p50/p99): at the client (from"
        " the due time), by the exchange's own clock (Server-Timing total), in its fan-out"
        " wait\n"
    )
    say(mixed_table(rows))
    results = {
        "scenario": "mixed timeouts",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "buyers": [
            {
                "name": b.name,
                "latency_ms": b.latency_ms,
                "timeout_ms": b.timeout_ms,
                "hangs": b.hangs,
            }
            for b in MIXED_FLEET
        ],
        "server": f"{opts.server} {opts.workers}x{opts.threads}",
        "database": database,
        "goal_p99_ms": GOAL_MS,
        "beyond_hung_timeout": rows,
        "steps": [s.as_dict() for s in steps],
    }
    path = report.write_json(results, opts.out)
    say(f"\nJSON: {path}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PIECES:
        PIECES[argv[0]](argv[1:])
        return 0
    opts = parse_args(argv)

    def body(procs: Processes, tmp: Path) -> int:
        run(opts, procs, tmp, say=lambda text: print(text, flush=True))
        return 0

    return run_in_scratch("switchyard-bench-mixed-", body)


def _fleet(argv: list[str]) -> None:
    from . import fleet

    parser = argparse.ArgumentParser(prog="python -m bench.mixed fleet")
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(fleet.serve(parser.parse_args(argv).port, fleet=MIXED_FLEET))


def _baseline(argv: list[str]) -> None:
    from . import baseline

    parser = argparse.ArgumentParser(prog="python -m bench.mixed baseline")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fleet", required=True)
    args = parser.parse_args(argv)
    asyncio.run(baseline.serve(args.port, args.fleet, fleet=MIXED_FLEET))


def _setup(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mixed setup")
    parser.add_argument("--fleet", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
    import django

    django.setup()
    from .setup import configure

    key = configure(args.fleet, MIXED_FLEET, VERTICAL)
    sys.stdout.write(orjson.dumps({"key": key}).decode() + "\n")


PIECES = {"fleet": _fleet, "baseline": _baseline, "setup": _setup}

if __name__ == "__main__":
    sys.exit(main())
