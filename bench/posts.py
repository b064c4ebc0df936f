"""``python -m bench.posts`` (the third step of ``make bench``): sync direct posts per
second, one fast buyer that accepts every lead, at rising rates, then an overload.

Each request is a direct post (``POST /api/v1/leads``, ``mode: sync``: the ping phase
and the post phase in one call) of a new person, sent open loop at a fixed rate with an
``X-Request-Start`` stamp, as a proxy would add. The only buyer bids 5 ms after its ping
and accepts the post 10 ms after receiving it, so its own time is 15 ms; per rate the
step reports, for the publisher's answers, what came **beyond** those 15 ms (p50/p99,
from the due time), the share answered within SPEC §11's post target (300 ms beyond),
the 503s of load shedding, other failures, and the statements each post sent on its
request's connection (counted by the server: ``bench.querycount``; those that read or
write rows, and all of them with transaction control).

Rates rise (10, 25, 50, 100, 200/s by default) until one is overloaded (over 5% 503s
or failures, or p99 past 2 s); then one **overload** step at 3x the highest sustained
rate (3x the first rate if none was) checks that every request got an answer or a 503
within 2 s and that nothing was sold for a request that was not answered ``sold``: the
buyer's accepted leads are matched against the answers, and the sold leads in the
database are counted against the sold answers. The database is ``DATABASE_URL``'s
(PostgreSQL) or a fresh SQLite file, as for the rest of the bench. Results:
``bench/results/posts.json``.

``python -m bench.posts fleet|setup|load|count …`` are the pieces it starts.
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
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from . import report
from .exchange import SERVERS, exchange_env, start_exchange
from .procs import (
    REPO_ROOT,
    BenchError,
    Processes,
    die_with_parent,
    free_port,
    run_in_scratch,
    wait_http,
)
from .scenario import POST_LATENCY_MS, BuyerSpec, post_lead
from .stats import percentile
from .steps import SETTLE_S, CpuMark, http_json

VERTICAL = "bench-posts"
FAST = BuyerSpec("fast", 5, Decimal("10.00"), 300)
POST_FLEET: tuple[BuyerSpec, ...] = (FAST,)
# The buyer's own time in a direct post: its bid, then its answer to the post.
OWN_MS = FAST.latency_ms + POST_LATENCY_MS
# SPEC §11 / issue 15: p99 of a sync post at most this far beyond the buyer's own time.
TARGET_MS = 300.0
# Overload: every request answered (or refused with a 503) within this.
ANSWER_WITHIN_MS = 2000.0
OVERLOAD_FACTOR = 3.0
DEFAULT_RATES = (10.0, 25.0, 50.0, 100.0, 200.0)
SUSTAINED_FAILURE_SHARE = 0.001
OVERLOAD_SHARE = 0.05


@dataclass
class PostOptions:
    rates: tuple[float, ...] = DEFAULT_RATES
    duration_s: float = 10.0
    warmup_s: float = 2.0
    timeout_s: float = 5.0
    overload: bool = True
    workers: int = 2
    threads: int = 36
    server: str = "granian"
    out: Path = report.RESULTS_DIR / "posts.json"


def parse_args(argv: Sequence[str] | None = None) -> PostOptions:
    parser = argparse.ArgumentParser(prog="python -m bench.posts", description=__doc__)
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in DEFAULT_RATES))
    parser.add_argument("--duration", type=float, default=10.0, help="measured s per step")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured s per step")
    parser.add_argument("--no-overload", action="store_true", help="skip the overload step")
    parser.add_argument("--server", choices=SERVERS, default="granian")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=36, help="per worker; more than API_MAX_IN_FLIGHT"
    )
    parser.add_argument("--out", type=Path, default=report.RESULTS_DIR / "posts.json")
    args = parser.parse_args(argv)
    return PostOptions(
        rates=tuple(float(r) for r in args.rates.split(",") if r.strip()),
        duration_s=args.duration,
        warmup_s=args.warmup,
        overload=not args.no_overload,
        workers=args.workers,
        threads=args.threads,
        server=args.server,
        out=args.out,
    )


# -- the load generator (its own process) -------------------------------------------


@dataclass(slots=True)
class PostSample:
    due_s: float
    ms: float
    measured: bool
    status: int | None = None
    outcome: str = ""  # the answer's status ("sold", ...), "shed" (503) or an error
    lead_id: str = ""
    queries: int | None = None  # statements that read or write rows
    statements: int | None = None  # all of them, transaction control included


async def _one_post(session: Any, url: str, due: float, measured: bool) -> PostSample:
    import aiohttp

    loop = asyncio.get_running_loop()
    sample = PostSample(due_s=due, ms=0.0, measured=measured)
    body = orjson.dumps({"vertical": VERTICAL, "lead": post_lead(), "mode": "sync"})
    # What a proxy adds on arrival: lets the exchange shed a request queued too long.
    headers = {"X-Request-Start": f"t={time.time() * 1e6:.0f}"}
    try:
        async with session.post(url, data=body, headers=headers) as response:
            sample.status = response.status
            raw = await response.read()
            data, _, every = response.headers.get("X-Bench-Queries", "").partition("/")
            if data.isdigit() and every.isdigit():
                sample.queries, sample.statements = int(data), int(every)
        if sample.status == 503:
            sample.outcome = "shed"
        elif sample.status != 200:
            sample.outcome = f"http_{sample.status}"
        else:
            answer = orjson.loads(raw)
            sample.outcome = str(answer.get("status", "bad_answer"))
            sample.lead_id = str(answer.get("lead_id", ""))
    except TimeoutError:
        sample.outcome = "timeout"
    except (aiohttp.ClientError, OSError) as exc:
        sample.outcome = f"transport:{type(exc).__name__}"
    except (orjson.JSONDecodeError, AttributeError):
        sample.outcome = "bad_answer"
    sample.ms = (loop.time() - due) * 1000
    return sample


async def load(
    url: str, key: str, *, rate: float, duration_s: float, warmup_s: float, timeout_s: float,
    announce: Any = print,
) -> list[PostSample]:  # fmt: skip
    """Open loop: post ``i`` is due at ``start + i / rate`` whatever came back before;
    every sample (warm-up ones flagged) with its latency from its due time."""
    import aiohttp

    loop = asyncio.get_running_loop()
    warm = round(rate * warmup_s)
    total = warm + round(rate * duration_s)
    connector = aiohttp.TCPConnector(limit=2000, keepalive_timeout=1.0)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers
    ) as session:
        start = loop.time() + 0.05
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if i == warm:
                announce("measuring")
            tasks.append(asyncio.create_task(_one_post(session, url, due, i >= warm)))
        samples = list(await asyncio.gather(*tasks))
        announce("done")
    measured_start = start + warm / rate
    for sample in samples:
        sample.due_s -= measured_start
    return samples


# -- one step -----------------------------------------------------------------------


@dataclass
class PostStep:
    """What the exchange did with direct posts at one offered rate."""

    rate: float
    kind: str  # "rising" or "overload"
    sent: int
    outcomes: dict[str, int]
    beyond_ms: dict[str, float]  # of the 200 answers, less the buyer's own time
    within_target: float  # share of the sent posts answered 200 within TARGET_MS beyond
    answered_in_2s: float  # share answered (200 or 503) within 2 s of the due time
    slowest_ms: float
    ok_per_s: float
    queries: dict[str, float]
    cpu_ms_per_post: float | None
    sold_not_answered_sold: int  # the buyer accepted it; the publisher heard otherwise
    db_sold: int | None  # sold leads the database gained during the step (warm-up too)
    answered_sold: int  # sold answers during the step (warm-up too)
    other_load_cores: float | None = None
    stolen_cores: float | None = None
    load_average: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shed(self) -> int:
        return self.outcomes.get("shed", 0)

    @property
    def failed(self) -> int:
        """Neither an answer of the API's (sold/rejected/pending) nor a 503."""
        return sum(
            n for k, n in self.outcomes.items() if k not in ("sold", "rejected", "pending", "shed")
        )

    def sustained(self) -> bool:
        return (
            (self.shed + self.failed) <= SUSTAINED_FAILURE_SHARE * self.sent
            and self.beyond_ms.get("p99", math.inf) <= TARGET_MS
            and self.ok_per_s >= 0.95 * self.rate
        )

    def overloaded(self) -> bool:
        """Past saturation: higher rates would only measure a longer queue."""
        return (
            self.shed + self.failed > OVERLOAD_SHARE * self.sent
            or self.beyond_ms.get("p99", math.inf) > ANSWER_WITHIN_MS
        )

    def sold_only_when_answered(self) -> bool:
        return self.sold_not_answered_sold == 0 and (
            self.db_sold is None or self.db_sold == self.answered_sold
        )


def summarise_posts(
    rate: float,
    kind: str,
    duration_s: float,
    samples: Sequence[PostSample],
    accepted_by_buyer: set[str],
    cpu_s: float | None,
    db_sold: int | None,
) -> PostStep:
    measured = [s for s in samples if s.measured]
    outcomes: dict[str, int] = {}
    for s in measured:
        outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
    answered = [s for s in measured if s.status == 200]
    beyond = sorted(s.ms - OWN_MS for s in answered)
    spread = {
        "p50": percentile(beyond, 50),
        "p99": percentile(beyond, 99),
        "max": beyond[-1] if beyond else math.nan,
    }
    queries = sorted(s.queries for s in answered if s.queries is not None)
    statements = sorted(s.statements for s in answered if s.statements is not None)
    sent = len(measured)
    ends = [s.due_s + s.ms / 1000 for s in answered]
    span = max(duration_s, max(ends) - OWN_MS / 1000) if ends else duration_s
    sold_answers = {s.lead_id for s in samples if s.outcome == "sold"}
    slowest: dict[str, float] = {}
    late: dict[str, int] = {}
    for s in measured:
        slowest[s.outcome] = max(slowest.get(s.outcome, 0.0), s.ms)
        if s.ms > ANSWER_WITHIN_MS:
            late[s.outcome] = late.get(s.outcome, 0) + 1
    return PostStep(
        rate=rate,
        kind=kind,
        sent=sent,
        outcomes=outcomes,
        beyond_ms=spread,
        within_target=sum(1 for b in beyond if b <= TARGET_MS) / sent if sent else 0.0,
        answered_in_2s=(
            sum(1 for s in measured if s.status in (200, 503) and s.ms <= ANSWER_WITHIN_MS) / sent
            if sent
            else 0.0
        ),
        slowest_ms=max((s.ms for s in measured), default=math.nan),
        ok_per_s=len(answered) / span,
        queries={
            "p50": percentile(queries, 50) if queries else math.nan,
            "max": queries[-1] if queries else math.nan,
            "all_p50": percentile(statements, 50) if statements else math.nan,
        },
        cpu_ms_per_post=cpu_s * 1000 / len(answered) if cpu_s is not None and answered else None,
        sold_not_answered_sold=len(accepted_by_buyer - sold_answers),
        db_sold=db_sold,
        answered_sold=len(sold_answers),
        extra={"slowest_ms_by_outcome": slowest, "after_2s_by_outcome": late},
    )


def _run_load(
    url: str, key: str, rate: float, opts: PostOptions, tmp: Path, server_pid: int, fleet_pid: int
) -> tuple[list[PostSample], CpuMark | None, CpuMark | None]:
    out = tmp / f"posts-{rate:g}.json"
    argv = [
        sys.executable, "-m", "bench.posts", "load", "--url", url, "--key", key,
        "--rate", str(rate), "--duration", str(opts.duration_s), "--warmup", str(opts.warmup_s),
        "--timeout", str(opts.timeout_s), "--out", str(out),
    ]  # fmt: skip
    start = end = None
    with subprocess.Popen(
        argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip() == "measuring":
                    start = CpuMark.take(server_pid, fleet_pid, proc.pid)
                elif line.strip() == "done":
                    end = CpuMark.take(server_pid, fleet_pid, proc.pid)
            proc.wait(timeout=opts.timeout_s + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
    if proc.returncode != 0:
        raise BenchError(f"the post load generator failed ({proc.returncode})")
    return [PostSample(**s) for s in orjson.loads(out.read_bytes())], start, end


def count_sold(env: dict[str, str]) -> int:
    """Sold leads of the bench-posts vertical in the exchange's database."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.posts", "count"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if done.returncode != 0:
        raise BenchError(f"counting sold leads failed:\n{done.stdout}{done.stderr}")
    return int(orjson.loads(done.stdout.strip().splitlines()[-1])["sold"])


def run_step(
    rate: float, kind: str, opts: PostOptions, tmp: Path, exchange: Any, fleet: Any,
    fleet_url: str, env: dict[str, str], sold_before: int,
) -> tuple[PostStep, int]:  # fmt: skip
    http_json(f"{fleet_url}/_reset", {})
    time.sleep(SETTLE_S)
    url = f"{exchange.url}/api/v1/leads"
    samples, start, end = _run_load(
        url, exchange.key, rate, opts, tmp, exchange.child.pid, fleet.pid
    )
    time.sleep(SETTLE_S)  # a post its client gave up on may still be finishing
    posts = http_json(f"{fleet_url}/_stats")["posts"]
    accepted = {p["lead_id"] for p in posts if p["accepted"]}
    sold_after = count_sold(env)
    step = summarise_posts(
        rate,
        kind,
        opts.duration_s,
        samples,
        accepted,
        end.target - start.target if start and end else None,
        sold_after - sold_before,
    )
    if start and end and end.wall > start.wall:
        foreign = (end.machine - start.machine) - (end.run - start.run)
        step.other_load_cores = max(0.0, foreign / (end.wall - start.wall))
        step.stolen_cores = max(0.0, (end.stolen - start.stolen) / (end.wall - start.wall))
    step.load_average = os.getloadavg()[0]
    return step, sold_after


# -- the report ---------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _n(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:g}"


def posts_table(steps: Sequence[PostStep]) -> str:
    headers = [
        "step", "rate/s", "sent", "beyond p50/p99 ms", f"<= {TARGET_MS:g} ms", "503",
        "failed", "in 2 s", "slowest ms", "ok/s", "queries p50/max (all)", "cpu ms/post",
        "sold w/o sold answer", "db sold/answers", "other cores", "stolen", "load avg",
        "sustained",
    ]  # fmt: skip
    body = []
    for s in steps:
        body.append(
            [
                s.kind,
                f"{s.rate:g}",
                s.sent,
                f"{_ms(s.beyond_ms['p50'])}/{_ms(s.beyond_ms['p99'])}",
                f"{s.within_target:.1%}",
                s.shed,
                s.failed,
                f"{s.answered_in_2s:.1%}",
                _ms(s.slowest_ms),
                f"{s.ok_per_s:.1f}",
                f"{_n(s.queries['p50'])}/{_n(s.queries['max'])} ({_n(s.queries['all_p50'])})",
                "-" if s.cpu_ms_per_post is None else f"{s.cpu_ms_per_post:.1f}",
                s.sold_not_answered_sold,
                f"{s.db_sold}/{s.answered_sold}",
                "-" if s.other_load_cores is None else f"{s.other_load_cores:.2f}",
                "-" if s.stolen_cores is None else f"{s.stolen_cores:.2f}",
                f"{s.load_average:.1f}",
                "yes" if s.sustained() else "no",
            ]
        )
    return report.table(headers, body)


def run(opts: PostOptions, procs: Processes, tmp: Path, say: Any = print) -> dict[str, Any]:
    """Start the pieces, post at each rate, then overload; the figures (also written to
    ``opts.out``)."""
    python = sys.executable
    fleet_port = free_port()
    fleet_url = f"http://127.0.0.1:{fleet_port}"
    fleet = procs.start(
        "posts-fleet", [python, "-m", "bench.posts", "fleet", "--port", str(fleet_port)]
    )
    wait_http(f"{fleet_url}/_stats", fleet)
    # The exchange's processes count statements (``sql``: and log them).
    os.environ.setdefault("BENCH_COUNT_QUERIES", "1")
    try:
        say(f"starting the exchange (migrate, configure {VERTICAL}, {opts.server})…")
        exchange = start_exchange(
            procs, tmp, fleet_url, workers=opts.workers, threads=opts.threads,
            server=opts.server, setup=("-m", "bench.posts", "setup"),
        )  # fmt: skip
        env = exchange_env(tmp)
    finally:
        if os.environ["BENCH_COUNT_QUERIES"] == "1":
            os.environ.pop("BENCH_COUNT_QUERIES")
    say(
        f"\nsync direct posts, one buyer: bids after {FAST.latency_ms} ms, accepts the post"
        f" after {POST_LATENCY_MS} ms (its own time: {OWN_MS} ms); {exchange.database},"
        f" {opts.server} {opts.workers}x{opts.threads}"
    )
    sold = count_sold(env)
    steps: list[PostStep] = []
    for rate in opts.rates:
        step, sold = run_step(rate, "rising", opts, tmp, exchange, fleet, fleet_url, env, sold)
        steps.append(step)
        say(
            f"  {rate:>5g}/s  beyond the buyer: p50 {_ms(step.beyond_ms['p50'])}"
            f"  p99 {_ms(step.beyond_ms['p99'])} ms  503 {step.shed}  failed {step.failed}"
            f"  queries {_n(step.queries['p50'])}"
        )
        if step.overloaded():
            break
    held = [s.rate for s in steps if s.sustained()]
    highest = max(held) if held else None
    if opts.overload:
        rate = OVERLOAD_FACTOR * (highest if highest else opts.rates[0])
        step, sold = run_step(rate, "overload", opts, tmp, exchange, fleet, fleet_url, env, sold)
        steps.append(step)
        say(
            f"  overload {rate:g}/s: {step.answered_in_2s:.1%} answered or refused within 2 s,"
            f" 503 {step.shed}, sold without a sold answer {step.sold_not_answered_sold};"
            f" after 2 s: {step.extra['after_2s_by_outcome'] or 'none'}"
        )
    say(
        f"\nSync direct posts: ms beyond the buyer's own {OWN_MS} ms (from the due time);"
        f" sustained = p99 <= {TARGET_MS:g} ms, at most 0.1% 503 or failed, ok/s >= 95%"
        " of the rate\n"
    )
    say(posts_table(steps))
    overload = next((s for s in steps if s.kind == "overload"), None)
    results = {
        "scenario": "post throughput",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "database": exchange.database,
        "server": f"{opts.server} {opts.workers}x{opts.threads}",
        "buyer_own_ms": OWN_MS,
        "target_ms": TARGET_MS,
        "highest_sustained": highest,
        "overload_holds": (
            overload is not None
            and overload.answered_in_2s == 1.0
            and overload.sold_only_when_answered()
        ),
        "steps": [
            {**asdict(s), "shed": s.shed, "failed": s.failed, "sustained": s.sustained()}
            for s in steps
        ],
    }
    say(f"\nhighest rate sustained: {highest or 'none'}/s")
    path = report.write_json(results, opts.out)
    say(f"JSON: {path}")
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

    return run_in_scratch("switchyard-bench-posts-", body)


# -- the pieces ---------------------------------------------------------------------


def _fleet(argv: list[str]) -> None:
    from . import fleet

    parser = argparse.ArgumentParser(prog="python -m bench.posts fleet")
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(fleet.serve(parser.parse_args(argv).port, fleet=POST_FLEET))


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
    import django

    django.setup()


def _setup(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.posts setup")
    parser.add_argument("--fleet", required=True)
    args = parser.parse_args(argv)
    _django()
    from .setup import configure

    key = configure(args.fleet, POST_FLEET, VERTICAL)
    sys.stdout.write(orjson.dumps({"key": key}).decode() + "\n")


def _count(argv: list[str]) -> None:
    _django()
    from leads.models import Lead

    sold = Lead.objects.filter(vertical__slug=VERTICAL, status="sold").count()
    sys.stdout.write(orjson.dumps({"sold": sold}).decode() + "\n")


def _load(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.posts load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    samples = asyncio.run(
        load(
            args.url, args.key, rate=args.rate, duration_s=args.duration,
            warmup_s=args.warmup, timeout_s=args.timeout,
            announce=lambda line: print(line, flush=True),
        )
    )  # fmt: skip
    args.out.write_bytes(orjson.dumps([asdict(s) for s in samples]))


PIECES = {"fleet": _fleet, "setup": _setup, "count": _count, "load": _load}

if __name__ == "__main__":
    sys.exit(main())
