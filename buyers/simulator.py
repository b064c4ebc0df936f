"""Simulated buyers for the demo and for trying integrations: an aiohttp app whose
buyers answer pings and posts with set latencies, prices and behaviours.

``GET /_stats`` tells how many pings and posts each buyer received.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class SimBuyer:
    slug: str
    latency_ms: int
    min_price: str
    max_price: str
    accepts_posts: bool = True
    hangs: bool = False


SIM_BUYERS = {
    b.slug: b
    for b in (
        SimBuyer("summit", 40, "15.00", "18.00"),
        SimBuyer("cobalt", 60, "12.00", "14.00", accepts_posts=False),
        SimBuyer("beacon", 80, "8.00", "10.00"),
        SimBuyer("drift", 10_000, "30.00", "30.00", hangs=True),
        SimBuyer("flatrate", 20, "5.00", "5.00"),
    )
}


def build_app() -> web.Application:
    stats: Counter[str] = Counter()

    async def ping(request: web.Request) -> web.Response:
        buyer = SIM_BUYERS.get(request.match_info["buyer"])
        if buyer is None:
            raise web.HTTPNotFound()
        stats[f"{buyer.slug}.ping"] += 1
        await request.read()
        await asyncio.sleep(buyer.latency_ms / 1000)
        low, high = float(buyer.min_price), float(buyer.max_price)
        price = f"{random.uniform(low, high):.2f}"  # a simulated buyer's whim, not money
        return web.json_response(
            {"result": "accepted", "bid": price, "bid_id": f"{buyer.slug}-{uuid.uuid4().hex[:10]}"}
        )

    async def post(request: web.Request) -> web.Response:
        buyer = SIM_BUYERS.get(request.match_info["buyer"])
        if buyer is None:
            raise web.HTTPNotFound()
        stats[f"{buyer.slug}.post"] += 1
        await request.read()
        await asyncio.sleep(buyer.latency_ms / 1000)
        if not buyer.accepts_posts:
            return web.json_response({"status": "rejected", "error": "duplicate in our CRM"})
        return web.json_response({"status": "ok", "lead_id": uuid.uuid4().hex})

    async def show_stats(request: web.Request) -> web.Response:
        return web.json_response(dict(stats))

    app = web.Application()
    app.router.add_post("/{buyer}/ping", ping)
    app.router.add_post("/{buyer}/post", post)
    app.router.add_get("/_stats", show_stats)
    return app
