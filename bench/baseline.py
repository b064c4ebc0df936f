"""The baseline of SPEC §11: a bare asyncio fan-out over the same buyers.

For each ``POST /ping`` it pings every buyer of the scenario in parallel through one
pooled keep-alive aiohttp client, each call bounded by the buyer's timeout, picks the
best accepted bid and answers JSON. No validation, storage or configuration: what is
left is the least an auction service on this machine can add to the floor, so the
exchange is judged by the difference. Run with ``python -m bench.baseline --port N
--fleet http://127.0.0.1:M``.
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from .scenario import FLEET, BuyerSpec

SESSION = web.AppKey("session", aiohttp.ClientSession)
FLEET_URL = web.AppKey("fleet_url", str)
BUYERS = web.AppKey("buyers", tuple[BuyerSpec, ...])


async def _bid(session: aiohttp.ClientSession, url: str, body: bytes, timeout_s: float) -> Any:
    """One buyer's bid as a Decimal, or None when it declined, failed or timed out."""
    try:
        async with asyncio.timeout(timeout_s):
            async with session.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as response:
                if response.status != 200:
                    return None
                answer = orjson.loads(await response.read())
    except (TimeoutError, aiohttp.ClientError, OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(answer, dict) or answer.get("accepted") is not True:
        return None
    try:
        return Decimal(str(answer.get("price")))
    except InvalidOperation:
        return None


async def ping(request: web.Request) -> web.Response:
    try:
        lead = orjson.loads(await request.read()).get("lead") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return web.Response(status=400, text="bad json")
    body = orjson.dumps(lead)
    base = request.app[FLEET_URL]
    session = request.app[SESSION]
    bids = await asyncio.gather(
        *(
            _bid(session, f"{base}/{b.name}/ping", body, b.timeout_ms / 1000)
            for b in request.app[BUYERS]
        )
    )
    best = max((p for p in bids if p is not None), default=None)
    answer = {"status": "accepted", "price": str(best)} if best else {"status": "rejected"}
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


def make_app(fleet_url: str, fleet: tuple[BuyerSpec, ...] = FLEET) -> web.Application:
    app = web.Application()
    app[FLEET_URL] = fleet_url.rstrip("/")
    app[BUYERS] = fleet

    async def session_context(app: web.Application) -> Any:
        connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=30)
        async with aiohttp.ClientSession(connector=connector) as session:
            app[SESSION] = session
            yield

    app.cleanup_ctx.append(session_context)
    app.router.add_post("/ping", ping)
    return app


async def serve(
    port: int, fleet_url: str, host: str = "127.0.0.1", fleet: tuple[BuyerSpec, ...] = FLEET
) -> None:
    runner = web.AppRunner(make_app(fleet_url, fleet), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fleet", required=True, help="base URL of the buyer fleet")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.fleet))


if __name__ == "__main__":
    main()
