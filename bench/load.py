"""The open-loop load generator: pings at a fixed rate on a fixed schedule.

Request ``i`` is due at ``start + i / rate`` whatever happened to the ones before it,
and its latency is measured from that due time, not from when it was actually sent:
a server (or a generator) that falls behind is charged for the queue it builds, so
there is no coordinated omission. The run is bounded: ``rate * (warmup + duration)``
requests, each with a timeout.

It runs in its own process (``python -m bench.load …``) so it never competes with a
server's event loop. It prints ``measuring`` when the first measured request is due
and ``done`` when the last measured one has come back (the runner samples CPU time
between the two), then writes every measured sample as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from .scenario import VERTICAL_SLUG, ping_body


@dataclass(slots=True)
class Sample:
    """One request: when it was due (s from the first measured one), how long it took
    from then (ms), and what came back."""

    due_s: float
    ms: float
    status: int | None = None
    error: str = ""  # "" when the answer was a well-formed 200
    accepted: bool = False
    phases: dict[str, float] = field(default_factory=dict)  # from Server-Timing, if any


def parse_server_timing(header: str) -> dict[str, float]:
    """``parse;dur=0.41, fanout;dur=151.2`` -> ``{"parse": 0.41, "fanout": 151.2}``."""
    phases: dict[str, float] = {}
    for metric in header.split(","):
        name, _, params = metric.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur" and name:
                with contextlib.suppress(ValueError):
                    phases[name] = float(value)
    return phases


async def _one(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], due: float
) -> Sample:
    loop = asyncio.get_running_loop()
    sample = Sample(due_s=due, ms=0.0)
    try:
        async with session.post(url, data=body, headers=headers) as response:
            sample.status = response.status
            raw = await response.read()
            sample.phases = parse_server_timing(response.headers.get("Server-Timing", ""))
        if sample.status != 200:
            sample.error = f"http_{sample.status}"
        else:
            answer = orjson.loads(raw)
            if answer.get("status") not in ("accepted", "rejected"):
                sample.error = "bad_answer"
            sample.accepted = answer.get("status") == "accepted"
    except TimeoutError:
        sample.error = "timeout"
    except (aiohttp.ClientError, OSError) as exc:
        sample.error = f"transport:{type(exc).__name__}"
    except (orjson.JSONDecodeError, AttributeError):
        sample.error = "bad_answer"
    sample.ms = (loop.time() - due) * 1000
    return sample


async def run(
    url: str,
    *,
    rate: float,
    duration_s: float,
    warmup_s: float,
    timeout_s: float,
    key: str = "",
    announce: Any = print,
    vertical: str = VERTICAL_SLUG,
) -> list[Sample]:
    """Send ``rate`` pings/s for ``warmup_s`` then ``duration_s``; return the measured ones."""
    loop = asyncio.get_running_loop()
    body = orjson.dumps(ping_body(vertical))
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    warm = round(rate * warmup_s)
    total = warm + round(rate * duration_s)
    # Idle keep-alive connections are dropped after 1 s, before the web server's own
    # keep-alive closes them under us (which would show up as spurious errors).
    connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=1.0)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = loop.time() + 0.05
        measured_start = start + warm / rate
        warmup: list[asyncio.Task[Sample]] = []
        measured: list[asyncio.Task[Sample]] = []
        for i in range(total):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if i == warm:
                announce("measuring")
            task = asyncio.create_task(_one(session, url, body, headers, due))
            (warmup if i < warm else measured).append(task)
        samples = list(await asyncio.gather(*measured))
        announce("done")
        await asyncio.gather(*warmup)
    for sample in samples:
        sample.due_s -= measured_start
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", default="", help="publisher API key (Bearer)")
    parser.add_argument("--rate", type=float, required=True, help="pings per second")
    parser.add_argument("--duration", type=float, required=True, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout, s")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vertical", default=VERTICAL_SLUG, help="the pinged vertical")
    args = parser.parse_args()

    def announce(line: str) -> None:
        print(line, flush=True)

    samples = asyncio.run(
        run(
            args.url,
            rate=args.rate,
            duration_s=args.duration,
            warmup_s=args.warmup,
            timeout_s=args.timeout,
            key=args.key,
            announce=announce,
            vertical=args.vertical,
        )
    )
    args.out.write_bytes(orjson.dumps([asdict(s) for s in samples]))


if __name__ == "__main__":
    main()
