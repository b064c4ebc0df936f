"""The simulated buyers: one asyncio aiohttp server on loopback, one path per buyer.

``POST /<buyer>/ping`` answers ``{"accepted": true, "price": "…", "bid_id": "…"}`` after
the buyer's fixed latency (or hangs); ``POST /<buyer>/post`` accepts or rejects the lead.
Every post's arrival and answer times are recorded with the system-wide monotonic
clock, so the runner can subtract the time the publisher sent the post.

``GET /_stats`` returns ping counts per buyer and the post records; ``POST /_reset``
clears them. Run with ``python -m bench.fleet --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from typing import Any

import orjson
from aiohttp import web

from .scenario import FLEET, HANG_SECONDS, POST_LATENCY_MS, BuyerSpec


class FleetState:
    """What the fleet saw: pings per buyer and one record per post received."""

    def __init__(self) -> None:
        self.pings: dict[str, int] = {}
        self.posts: list[dict[str, Any]] = []
        self.bid_ids = itertools.count(1)

    def reset(self) -> None:
        self.pings.clear()
        self.posts.clear()


BUYERS = web.AppKey("buyers", dict[str, BuyerSpec])
STATE = web.AppKey("state", FleetState)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def ping(request: web.Request) -> web.Response:
    spec = request.app[BUYERS].get(request.match_info["buyer"])
    if spec is None:
        return _json({"error": "no such buyer"}, status=404)
    # Counted on arrival: a caller that gives up first still pinged this buyer.
    state = request.app[STATE]
    state.pings[spec.name] = state.pings.get(spec.name, 0) + 1
    await request.read()
    await asyncio.sleep(HANG_SECONDS if spec.hangs else spec.latency_ms / 1000)
    bid_id = f"{spec.name}-{next(state.bid_ids)}"
    return _json({"accepted": True, "price": str(spec.bid), "bid_id": bid_id})


async def post(request: web.Request) -> web.Response:
    received = time.monotonic_ns()
    spec = request.app[BUYERS].get(request.match_info["buyer"])
    if spec is None:
        return _json({"error": "no such buyer"}, status=404)
    try:
        lead = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        lead = {}
    await asyncio.sleep(POST_LATENCY_MS / 1000)
    if spec.accepts_posts:
        answer = {"accepted": True, "lead_ref": f"{spec.name}-{next(request.app[STATE].bid_ids)}"}
    else:
        answer = {"accepted": False, "reason": "not buying today"}
    request.app[STATE].posts.append(
        {
            "buyer": spec.name,
            "lead_id": str(lead.get("lead_id", "")) if isinstance(lead, dict) else "",
            "received_ns": received,
            "answered_ns": time.monotonic_ns(),
            "accepted": spec.accepts_posts,
        }
    )
    return _json(answer)


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({"pings": state.pings, "posts": state.posts})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return _json({"ok": True})


def make_app(fleet: tuple[BuyerSpec, ...] = FLEET) -> web.Application:
    app = web.Application()
    app[BUYERS] = {b.name: b for b in fleet}
    app[STATE] = FleetState()
    app.router.add_post("/{buyer}/ping", ping)
    app.router.add_post("/{buyer}/post", post)
    app.router.add_get("/_stats", stats)
    app.router.add_post("/_reset", reset)
    return app


async def serve(port: int, host: str = "127.0.0.1", fleet: tuple[BuyerSpec, ...] = FLEET) -> None:
    # A hung buyer's caller gives up at its timeout and closes the connection;
    # cancelling the handler then frees it instead of sleeping on for nobody.
    runner = web.AppRunner(make_app(fleet), handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
