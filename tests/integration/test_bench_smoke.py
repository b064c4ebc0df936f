"""Smoke tests of the performance harness (bench/): its pieces, in a few seconds."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bench import load, mixed, posts
from bench.exchange import SERVERS, start_exchange
from bench.postflow import match_arrivals
from bench.procs import Processes, free_port, machine_busy_seconds, stolen_seconds, wait_http
from bench.report import phase_table
from bench.scenario import FLEET, floor_ms
from bench.stats import summarise


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def test_the_baseline_waits_for_the_hung_buyer_and_answers_the_best_bid(
    processes: Processes,
) -> None:
    fleet_port, base_port = free_port(), free_port()
    fleet_url = f"http://127.0.0.1:{fleet_port}"
    fleet = processes.start(
        "fleet", [sys.executable, "-m", "bench.fleet", "--port", str(fleet_port)]
    )
    wait_http(f"{fleet_url}/_stats", fleet)
    baseline = processes.start(
        "baseline",
        [sys.executable, "-m", "bench.baseline", "--port", str(base_port), "--fleet", fleet_url],
    )
    ping_url = f"http://127.0.0.1:{base_port}/ping"
    wait_http(ping_url, baseline)

    samples = asyncio.run(load.run(ping_url, rate=20, duration_s=1, warmup_s=0, timeout_s=5))

    assert len(samples) == 20
    assert all(s.accepted and not s.error for s in samples)
    # No answer can come before the hung buyer's timeout: the floor both targets share.
    assert min(s.ms for s in samples) >= floor_ms()
    hung = next(b for b in FLEET if b.hangs)
    assert max(s.ms for s in samples) < hung.timeout_ms + 1000


def test_the_load_generator_keeps_its_schedule_while_answers_are_slow() -> None:
    arrivals: list[float] = []

    async def slow(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        await asyncio.sleep(0.3)
        return web.json_response({"status": "accepted"})

    async def scenario() -> list[load.Sample]:
        app = web.Application()
        app.router.add_post("/ping", slow)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            return await load.run(
                f"http://127.0.0.1:{port}/ping", rate=50, duration_s=1, warmup_s=0, timeout_s=5
            )
        finally:
            await runner.cleanup()

    samples = asyncio.run(scenario())

    # Open loop: 50 requests sent within about a second, none waiting for an answer
    # (a closed loop would have managed 3 or 4 at 300 ms each).
    assert len(arrivals) == 50
    assert arrivals[-1] - arrivals[0] < 1.3
    assert min(s.ms for s in samples) >= 300


def test_a_step_that_falls_behind_is_charged_its_queue_and_not_sustained() -> None:
    # 10 pings due 0.1 s apart, each answered 1 s later than the one before: a server
    # building a queue. Latency counts from the due time, so the queue shows.
    samples = [
        {"due_s": n / 10, "ms": 150 + 1000 * n, "error": "", "accepted": True} for n in range(10)
    ]

    step = summarise("exchange", 10, 1.0, samples, floor_ms=150, deadline_ms=160, cpu_s=None)

    assert step.latency_ms["p50"] == 4150
    assert step.late == 9
    assert step.throughput < 10
    assert not step.sustained(p99_target_ms=175)
    assert step.overloaded(floor_ms=150)


def test_the_phase_table_follows_a_pings_path_whichever_answer_came_first() -> None:
    def answered(**phases: float) -> dict:
        return {"due_s": 0.0, "ms": 155.0, "error": "", "accepted": True, "phases": phases}

    settled_ahead = answered(parse=0.2, fanout=150.1, ahead=1.0, write=0.7, total=152.0)
    ranked_after = answered(parse=0.2, fanout=150.3, ranking=0.3, write=1.2, total=152.4)
    step = summarise(
        "exchange", 2, 1.0, [settled_ahead, ranked_after], floor_ms=150, deadline_ms=160,
        cpu_s=None,
    )  # fmt: skip

    header = phase_table([step]).splitlines()[0].split()
    assert [h for h in header if h != "p50/p99"] == [
        "target", "rate/s", "parse", "fanout", "ranking", "ahead", "write", "total",
    ]  # fmt: skip


def test_the_hypervisor_s_share_is_read_apart_from_the_machine_s_busy_time() -> None:
    stolen, busy = stolen_seconds(), machine_busy_seconds()

    assert 0.0 <= stolen <= busy  # steal is one of the busy columns, never more


def test_post_overheads_line_up_the_buyers_arrivals_with_the_publishers_post() -> None:
    ms = 1_000_000
    records = [{"lead_id": "L1", "sent_ns": 1000 * ms, "post_ms": 40.0, "status": "sold"}]
    arrivals = [
        {"lead_id": "L1", "buyer": "slow", "received_ns": 1030 * ms, "answered_ns": 1040 * ms},
        {"lead_id": "L1", "buyer": "picky", "received_ns": 1005 * ms, "answered_ns": 1015 * ms},
        {"lead_id": "L2", "buyer": "slow", "received_ns": 1001 * ms, "answered_ns": 1002 * ms},
    ]

    match_arrivals(records, arrivals)

    assert records[0]["buyers"] == ["picky", "slow"]
    assert records[0]["first_ms"] == pytest.approx(5.0)
    assert records[0]["hop_ms"] == pytest.approx(15.0)


@pytest.mark.parametrize("server", SERVERS)
def test_the_production_server_answers_a_ping_then_records_its_calls(
    processes: Processes, tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web server must send the answer and only then run its after-work (WSGI
    ``close()``): the calls' log rows land, and the answer did not wait for them."""
    for name in ("DATABASE_URL", "PII_KEYS", "PII_HASH_KEY"):
        monkeypatch.delenv(name, raising=False)  # a fresh SQLite file of its own
    fleet_port = free_port()
    fleet_url = f"http://127.0.0.1:{fleet_port}"
    fleet = processes.start(
        "fleet", [sys.executable, "-m", "bench.fleet", "--port", str(fleet_port)]
    )
    wait_http(f"{fleet_url}/_stats", fleet)
    exchange = start_exchange(processes, tmp_path, fleet_url, workers=1, threads=4, server=server)

    samples = asyncio.run(
        load.run(
            f"{exchange.url}/api/v1/ping", rate=5, duration_s=1, warmup_s=0, timeout_s=5,
            key=exchange.key, announce=lambda _: None,
        )
    )  # fmt: skip

    assert all(s.accepted and not s.error for s in samples)
    assert all(s.phases["write"] < s.phases["total"] for s in samples)
    database = sqlite3.connect(tmp_path / "bench.sqlite3")
    deadline = time.monotonic() + 5
    while True:  # the recorder writes each batch CALL_LOG_FLUSH_MS after the answers
        (logged,) = database.execute("SELECT count(*) FROM leads_transactionlog").fetchone()
        if logged == 5 * len(samples) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert logged == 5 * len(samples)  # one row per buyer called


def test_the_command_line_defaults_to_the_production_server_and_quick_shortens_steps() -> None:
    from bench.runner import parse_args

    assert parse_args([]).server == "granian"
    quick = parse_args(["--quick", "--server", "gunicorn"])
    assert (quick.server, quick.rates, quick.duration_s) == ("gunicorn", (20.0, 50.0), 3.0)


def test_the_mixed_timeouts_scenario_measures_what_the_hung_buyer_adds_to_its_own_timeout(
    processes: Processes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATABASE_URL", "PII_KEYS", "PII_HASH_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert mixed.HUNG.timeout_ms == min(b.timeout_ms for b in mixed.MIXED_FLEET)
    opts = mixed.MixedOptions(
        rates=(10.0,), duration_s=2.0, warmup_s=1.0, workers=1, threads=4,
        out=tmp_path / "mixed.json",
    )  # fmt: skip

    results = mixed.run(opts, processes, tmp_path, say=lambda _: None)

    rows = {r["target"]: r for r in results["beyond_hung_timeout"]}
    assert set(rows) == {"baseline", "exchange"}
    for row in rows.values():
        assert row["errors"] == 0 and row["accepted"] == row["sent"] == 20
        assert row["hung_pinged_per_ping"] == 1.0  # the hung buyer was awaited every time
        # Never before the hung buyer's timeout; well before the next shortest (300 ms).
        assert 0 <= row["client_ms"]["p50"] < 150
    assert rows["exchange"]["server_total_ms"]["p50"] >= 0
    assert (tmp_path / "mixed.json").exists()


def test_the_post_throughput_step_counts_queries_and_sells_only_what_it_answered_sold(
    processes: Processes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATABASE_URL", "PII_KEYS", "PII_HASH_KEY", "BENCH_COUNT_QUERIES"):
        monkeypatch.delenv(name, raising=False)
    opts = posts.PostOptions(
        rates=(4.0, 8.0), duration_s=2.0, warmup_s=0.5, workers=1, threads=8,
        out=tmp_path / "posts.json",
    )  # fmt: skip

    results = posts.run(opts, processes, tmp_path, say=lambda _: None)

    steps = results["steps"]
    # Overload comes at three times the highest rate sustained (the first rate if none).
    overload_rate = 3 * (results["highest_sustained"] or 4.0)
    assert [(s["kind"], s["rate"]) for s in steps] == [
        ("rising", 4.0), ("rising", 8.0), ("overload", overload_rate),
    ]  # fmt: skip
    for step in steps:
        if step["kind"] == "rising":
            assert step["outcomes"] == {"sold": step["sent"]}  # the one buyer accepts all
        else:  # a busy machine may shed a few; every other answer is a sale
            assert set(step["outcomes"]) <= {"sold", "shed"}
        assert step["beyond_ms"]["p50"] >= 0  # never faster than the buyer itself
        # Counted by the server: a sold post reads and writes some rows, within bounds.
        assert 5 <= step["queries"]["p50"] <= step["queries"]["all_p50"] <= 60
        assert step["answered_in_2s"] == 1.0
        assert step["sold_not_answered_sold"] == 0
        # Warm-up posts included: the database sold exactly what was answered sold.
        assert step["db_sold"] == step["answered_sold"] >= step["outcomes"].get("sold", 0)
    assert results["overload_holds"]
    assert (tmp_path / "posts.json").exists()


def test_a_post_the_buyer_took_but_the_publisher_never_heard_was_sold_breaks_the_overload() -> None:
    def sample(n: int, outcome: str, status: int) -> posts.PostSample:
        return posts.PostSample(
            due_s=n / 10, ms=40.0, measured=True, status=status, outcome=outcome,
            lead_id=f"L{n}" if outcome == "sold" else "", queries=12, statements=12,
        )  # fmt: skip

    samples = [sample(0, "sold", 200), sample(1, "shed", 503), sample(2, "sold", 200)]

    step = posts.summarise_posts(
        30, "overload", 1.0, samples, {"L0", "L2", "L9"}, cpu_s=None, db_sold=3
    )

    assert step.shed == 1 and step.failed == 0
    assert step.sold_not_answered_sold == 1  # L9: sold, yet its publisher got a 503
    assert not step.sold_only_when_answered()
    assert step.answered_in_2s == 1.0
    assert not step.sustained()  # a 503 in three is far past one in a thousand
