"""One step of a run: the load generator against one target at one rate, with the CPU
of every process around its measured part; and the post flow."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .exchange import RunningExchange
from .procs import (
    REPO_ROOT,
    BenchError,
    cpu_snapshot,
    die_with_parent,
    machine_busy_seconds,
    stolen_seconds,
    tree_cpu,
)
from .scenario import FLEET, deadline_ms, floor_ms, ping_body
from .stats import Step, summarise

# A pause between steps, so one step's stragglers and clean-up do not land in the next.
SETTLE_S = 1.0


@dataclass
class Options:
    rates: tuple[float, ...]
    duration_s: float
    warmup_s: float
    timeout_s: float
    targets: tuple[str, ...]
    workers: int
    threads: int
    post_leads: int
    p99_target_ms: float
    out: Path
    server: str = "granian"


@dataclass
class Target:
    name: str
    ping_url: str
    pid: int
    key: str = ""


@dataclass
class CpuMark:
    """CPU seconds so far of the target, the fleet, the load generator, this whole run
    and the machine."""

    wall: float
    target: float
    fleet: float
    load: float
    run: float
    machine: float
    stolen: float

    @classmethod
    def take(cls, target_pid: int, fleet_pid: int, load_pid: int) -> CpuMark:
        snapshot = cpu_snapshot()
        return cls(
            wall=time.monotonic(),
            target=tree_cpu(snapshot, target_pid),
            fleet=tree_cpu(snapshot, fleet_pid),
            load=tree_cpu(snapshot, load_pid),
            run=tree_cpu(snapshot, os.getpid()),
            machine=machine_busy_seconds(),
            stolen=stolen_seconds(),
        )


def http_json(url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """GET (no body) or POST JSON to ``url``; the decoded JSON answer."""
    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
    if body is None:
        request.method = "GET"
    else:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return orjson.loads(response.read())


def probe(target: Target) -> str:
    """Empty when one ping gets an accepted answer; else what went wrong."""
    headers = {"Authorization": f"Bearer {target.key}"} if target.key else {}
    try:
        answer = http_json(target.ping_url, ping_body(), headers)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read()[:500].decode(errors='replace')}"
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if answer.get("status") != "accepted":
        return f"the answer was not an accepted bid: {answer}"
    return ""


def _load_step(
    target: Target, rate: float, opts: Options, tmp: Path, fleet_pid: int
) -> tuple[list, CpuMark | None, CpuMark | None]:
    """Run the load generator once; returns its samples and CPU marks around the
    measured part."""
    out = tmp / f"{target.name}-{rate:g}.json"
    argv = [
        sys.executable, "-m", "bench.load", "--url", target.ping_url, "--rate", str(rate),
        "--duration", str(opts.duration_s), "--warmup", str(opts.warmup_s),
        "--timeout", str(opts.timeout_s), "--out", str(out),
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
    target: Target, rate: float, opts: Options, fleet_url: str, fleet_pid: int, tmp: Path
) -> Step:
    """Load ``target`` at ``rate`` for one step and summarise it, CPU and fleet checks included."""
    http_json(f"{fleet_url}/_reset", {})
    time.sleep(SETTLE_S)
    samples, start, end = _load_step(target, rate, opts, tmp, fleet_pid)
    step = summarise(
        target.name,
        rate,
        opts.duration_s,
        samples,
        floor_ms=floor_ms(),
        deadline_ms=deadline_ms(),
        cpu_s=end.target - start.target if start and end else None,
    )
    if start and end and end.wall > start.wall:
        step.fleet_cpu_s = end.fleet - start.fleet
        step.load_cpu_s = end.load - start.load
        foreign = (end.machine - start.machine) - (end.run - start.run)
        step.other_load_cores = max(0.0, foreign / (end.wall - start.wall))
        step.stolen_cores = max(0.0, (end.stolen - start.stolen) / (end.wall - start.wall))
    # Both targets must await every buyer on every ping; a target that skipped the
    # hung one would look faster for the wrong reason.
    pings = http_json(f"{fleet_url}/_stats")["pings"]
    sent = round(rate * (opts.warmup_s + opts.duration_s))
    step.fleet_pings = {b.name: pings.get(b.name, 0) / sent for b in FLEET}
    return step


def run_posts(exchange: RunningExchange, fleet_url: str, leads: int, tmp: Path) -> list[dict]:
    """Run the post flow against the exchange; the per-lead records (see bench.postflow)."""
    http_json(f"{fleet_url}/_reset", {})
    out = tmp / "posts.json"
    argv = [
        sys.executable, "-m", "bench.postflow", "--url", exchange.url, "--key", exchange.key,
        "--fleet", fleet_url, "--leads", str(leads), "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO_ROOT, timeout=leads * 20 + 30, preexec_fn=die_with_parent)
    if done.returncode != 0:
        raise BenchError(f"the post flow failed ({done.returncode})")
    return orjson.loads(out.read_bytes())
