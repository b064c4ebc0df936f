"""Post delivery overhead: ping, then post, one lead after another, against the exchange.

For each lead the time the post was sent is taken on the system-wide monotonic clock,
which the fleet also stamps arrivals with; so, per lead:

- ``first_ms``: post sent -> the first buyer (the top bidder, which rejects) received it;
- ``hop_ms``: that buyer answered -> the next buyer in the waterfall received it;
- ``post_ms``: the whole post answer as the publisher sees it.

Run with ``python -m bench.postflow --url … --key … --fleet … --leads N --out file``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from .scenario import ping_body, post_lead


async def _call(session: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with session.post(url, data=orjson.dumps(body)) as response:
        raw = await response.read()
    try:
        return response.status, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return response.status, {"raw": raw[:200].decode(errors="replace")}


async def _one_lead(session: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    status, answer = await _call(session, f"{base}/api/v1/ping", ping_body())
    if status != 200 or answer.get("status") != "accepted":
        return {"lead_id": answer.get("ping_id", ""), "status": f"ping {status}: {answer}"}
    lead_id = answer["ping_id"]
    sent = time.monotonic_ns()
    status, answer = await _call(
        session, f"{base}/api/v1/post", {"ping_id": lead_id, "lead": post_lead()}
    )
    post_ms = (time.monotonic_ns() - sent) / 1e6
    outcome = answer.get("status", "") if status == 200 else f"http {status}"
    return {"lead_id": lead_id, "sent_ns": sent, "post_ms": post_ms, "status": outcome}


def match_arrivals(records: list[dict[str, Any]], arrivals: list[dict[str, Any]]) -> None:
    """Add ``first_ms``, ``hop_ms`` and the buyers reached to each record, in place."""
    by_lead: dict[str, list[dict[str, Any]]] = {}
    for arrival in arrivals:
        by_lead.setdefault(arrival["lead_id"], []).append(arrival)
    for record in records:
        seen = sorted(by_lead.get(record["lead_id"], []), key=lambda a: a["received_ns"])
        record["buyers"] = [a["buyer"] for a in seen]
        if seen and "sent_ns" in record:
            record["first_ms"] = (seen[0]["received_ns"] - record["sent_ns"]) / 1e6
        if len(seen) >= 2:
            record["hop_ms"] = (seen[1]["received_ns"] - seen[0]["answered_ns"]) / 1e6


async def run(base: str, key: str, fleet: str, leads: int) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        records = [await _one_lead(session, base.rstrip("/")) for _ in range(leads)]
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"{fleet.rstrip('/')}/_stats") as response,
    ):
        arrivals = orjson.loads(await response.read())["posts"]
    match_arrivals(records, arrivals)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="base URL of the exchange")
    parser.add_argument("--key", required=True)
    parser.add_argument("--fleet", required=True, help="base URL of the buyer fleet")
    parser.add_argument("--leads", type=int, default=50)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    records = asyncio.run(run(args.url, args.key, args.fleet, args.leads))
    args.out.write_bytes(orjson.dumps(records))


if __name__ == "__main__":
    main()
