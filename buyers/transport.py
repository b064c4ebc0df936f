"""The one way the exchange talks to buyers' APIs.

Every call runs on a per-process background asyncio loop with a pooled keep-alive
aiohttp session, so a ping fans out to all buyers at once without a thread per
buyer, and each call is bounded by its own timeout: a hung buyer costs its
timeout, never more. Synchronous code (DRF views, Celery tasks) hands a batch to
the loop and waits for the batch.

A request that knows how to authenticate anew (``reauthorize``, an OAuth2 token the
buyer may revoke early) is sent once more when answered 401, inside its own timeout
and without holding up the rest of the batch.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from django.conf import settings

from plumbing.per_process import PerProcess

from .outbound_guard import OutboundRefused, checked_addresses, refusal_for_url

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(slots=True)
class OutboundRequest:
    method: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 1.0
    # Given the seconds left after a 401: headers to send the request once more with,
    # or None to keep the 401. It may block (a token fetch), so it runs off the loop.
    reauthorize: Callable[[float], dict[str, str] | None] | None = None
    attachment: bytes = b""  # e-mail delivery (buyers.mail): the mapped lead as JSON


@dataclass(slots=True)
class OutboundResponse:
    """What came back: a status and body, or an error class (``timeout`` or
    ``transport_error``) with a detail. ``elapsed_ms`` is measured on the loop."""

    status: int | None = None
    body: bytes = b""
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    # "timeout", "transport_error", "refused" (an address outbound safety refuses) or
    # "too_large" (an answer over MAX_RESPONSE_BYTES; its status is kept)
    error: str = ""
    detail: str = ""


class _RefusedAddress(OSError):
    """Raised by the resolver for a name that resolves to a refused address; an OSError
    so that aiohttp hands it back as a connection error."""


class GuardedResolver(AbstractResolver):
    """Resolves a buyer's host name and checks every address (``outbound_guard``).

    The connector connects to exactly the addresses returned here, so the address
    checked is the address called: a DNS answer that changes in between (rebinding)
    cannot slip another one in.
    """

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.run_in_executor(None, checked_addresses, host, port, family)
        except OutboundRefused as exc:
            raise _RefusedAddress(str(exc)) from exc
        return [
            ResolveResult(
                hostname=host,
                host=info[4][0],
                port=info[4][1],
                family=info[0],
                proto=info[2],
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for info in infos
        ]

    async def close(self) -> None:
        return None


async def _read_capped(content: aiohttp.StreamReader, limit: int) -> bytes:
    """The whole body, or ``_TooLarge`` past ``limit`` bytes. ``read(n)`` returns what
    is buffered so far, so a body that arrives in pieces is read in a loop."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await content.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"the answer is larger than {limit // 1024} KiB")
        chunks.append(chunk)


class _TooLarge(Exception):
    """An answer longer than the cap."""


class _Engine:
    """One event loop thread and one client session per process (created after fork)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.session: aiohttp.ClientSession | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="switchyard-transport", daemon=True)
        self.thread.start()
        self.ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._open())
        self.ready.set()
        self.loop.run_forever()

    async def _open(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=settings.SWITCHYARD["OUTBOUND_MAX_CONNECTIONS"],
            limit_per_host=0,
            # Every new connection resolves (and checks) its host anew: a cached answer
            # would outlive a change of OUTBOUND_ALLOWED_NETWORKS or of the name.
            use_dns_cache=False,
            resolver=GuardedResolver(),
            keepalive_timeout=30,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=True,
            # Nothing a buyer's answer sets is sent back: no state carries from one
            # lead (or one buyer's call) to the next through cookies.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
            headers={"User-Agent": "Switchyard/1"},
        )

    async def _one(self, request: OutboundRequest) -> OutboundResponse:
        assert self.session is not None
        started = time.perf_counter()
        # A host written as an IP address never reaches the resolver: checked here.
        refused = refusal_for_url(request.url)
        if refused:
            return OutboundResponse(error="refused", detail=f"address refused: {refused}")
        try:
            async with asyncio.timeout(request.timeout_s):
                async with self.session.request(
                    request.method,
                    request.url,
                    data=request.body if request.method != "GET" else None,
                    headers=request.headers,
                    allow_redirects=False,
                ) as response:
                    try:
                        body = await _read_capped(response.content, MAX_RESPONSE_BYTES)
                    except _TooLarge as exc:
                        return OutboundResponse(
                            status=response.status,
                            content_type=response.headers.get("Content-Type", ""),
                            elapsed_ms=(time.perf_counter() - started) * 1000,
                            error="too_large",
                            detail=str(exc),
                        )
                    return OutboundResponse(
                        status=response.status,
                        body=body,
                        content_type=response.headers.get("Content-Type", ""),
                        headers=dict(response.headers),
                        elapsed_ms=(time.perf_counter() - started) * 1000,
                    )
        except TimeoutError:
            return OutboundResponse(
                elapsed_ms=(time.perf_counter() - started) * 1000,
                error="timeout",
                detail=f"no answer within {request.timeout_s * 1000:.0f} ms",
            )
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, _RefusedAddress):
                return OutboundResponse(
                    elapsed_ms=(time.perf_counter() - started) * 1000,
                    error="refused",
                    detail=f"address refused: {exc.os_error}",
                )
            return OutboundResponse(
                elapsed_ms=(time.perf_counter() - started) * 1000,
                error="transport_error",
                detail=f"{type(exc).__name__}: {exc}"[:300],
            )
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return OutboundResponse(
                elapsed_ms=(time.perf_counter() - started) * 1000,
                error="transport_error",
                detail=f"{type(exc).__name__}: {exc}"[:300],
            )

    async def _call(self, request: OutboundRequest) -> OutboundResponse:
        started = time.perf_counter()
        response = await self._one(request)
        renew = request.reauthorize

        def left() -> float:
            return request.timeout_s - (time.perf_counter() - started)

        if response.status != 401 or renew is None or left() <= 0:
            return response
        try:
            async with asyncio.timeout(left()):
                headers = await self.loop.run_in_executor(None, renew, left())
        except TimeoutError:
            return response
        except Exception:
            host = urllib.parse.urlsplit(request.url).netloc  # the query may hold lead data
            log.warning("could not renew the credential for %s", host, exc_info=True)
            return response
        if not headers or left() <= 0:
            return response
        again = replace(
            request, headers={**request.headers, **headers}, timeout_s=left(), reauthorize=None
        )
        retried = await self._one(again)
        # The caller waited for both tries: latency and the timeout message say so.
        retried.elapsed_ms = (time.perf_counter() - started) * 1000
        if retried.error == "timeout":
            retried.detail = f"no answer within {request.timeout_s * 1000:.0f} ms"
        return retried

    async def _many(self, requests: Sequence[OutboundRequest]) -> list[OutboundResponse]:
        return list(await asyncio.gather(*(self._call(r) for r in requests)))

    def run(self, requests: Sequence[OutboundRequest]) -> list[OutboundResponse]:
        future = asyncio.run_coroutine_threadsafe(self._many(requests), self.loop)
        # Every call carries its own timeout; this outer bound only guards the loop.
        limit = max(r.timeout_s for r in requests) + 5
        try:
            return future.result(timeout=limit)
        except FutureTimeout:
            future.cancel()
            return [OutboundResponse(error="timeout", detail="transport loop overrun")] * len(
                requests
            )

    def start(self, requests: Sequence[OutboundRequest]) -> Fanout:
        """Send every request now; the caller reads the answers through the ``Fanout``.

        The loop gives up on a call ``CUT_OFF_GRACE_MS`` after its timeout, so that
        cancelling it (closing its connection) does not compete for the interpreter
        with the caller's last steps before it answers; what comes in meanwhile is
        dropped, as the caller has already counted it a timeout."""
        fanout = Fanout(requests)
        grace = settings.SWITCHYARD["CUT_OFF_GRACE_MS"] / 1000

        async def one(index: int, request: OutboundRequest) -> None:
            answer = await self._call(replace(request, timeout_s=request.timeout_s + grace))
            fanout._arrived(index, answer)

        async def many() -> None:
            await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))

        asyncio.run_coroutine_threadsafe(many(), self.loop)
        return fanout


class Fanout:
    """Calls in flight, read by the thread that sent them without waiting for the loop.

    A call is *in* once it has answered (or failed) within its own timeout; one still
    out, or one whose answer took longer than its timeout, reads as a timeout. Each
    call's own timeout, counted from the start, is its deadline: the fan-out is over
    once every call is in or past its own deadline, so a hung buyer with a short
    timeout holds it only that long, whatever the others' timeouts. ``deadline`` is
    the longest of them: nothing that comes later can count.
    """

    def __init__(self, requests: Sequence[OutboundRequest]) -> None:
        self.requests = list(requests)
        self.started = time.perf_counter()
        self._deadlines = [self.started + r.timeout_s for r in self.requests]
        self.deadline = max(self._deadlines, default=self.started)
        self._results: list[OutboundResponse | None] = [None] * len(self.requests)
        # The latest deadline among the calls still out, or None once all have come
        # back: changed by the loop's thread only, which sets ``_news`` when it moves
        # (a call that comes back early from among equal timeouts wakes no one).
        self._last_out: float | None = self.deadline if self.requests else None
        self._news = threading.Event()

    def _arrived(self, index: int, answer: OutboundResponse) -> None:
        self._results[index] = answer
        if self._deadlines[index] < (self._last_out or 0.0):
            return  # a call due earlier than the last one out: the wait does not move
        last = max(
            (d for d, r in zip(self._deadlines, self._results, strict=True) if r is None),
            default=None,
        )
        if last != self._last_out:
            self._last_out = last
            self._news.set()

    def wait(self, until: float | None = None, ahead_s: float = 0.0) -> bool:
        """Wait until every call is in or past its own deadline, or until ``until`` (a
        ``perf_counter`` time), or until ``ahead_s`` before the deadline of the last
        call still out, whichever comes first; whether every call has come back."""
        while True:
            self._news.clear()  # before reading: an arrival from now on wakes the wait
            last = self._last_out
            if last is None:
                return True
            end = last - ahead_s if until is None else min(until, last - ahead_s)
            left = end - time.perf_counter()
            if left <= 0:
                return False
            self._news.wait(left)

    def counted(self) -> frozenset[int]:
        """The indexes of the calls that are in, as of now."""
        return frozenset(
            i
            for i, (answer, request) in enumerate(zip(self._results, self.requests, strict=True))
            if answer is not None and answer.elapsed_ms <= request.timeout_s * 1000
        )

    def answers(self, counted: frozenset[int] | None = None) -> list[OutboundResponse]:
        """Every call's answer as of now (or as of an earlier ``counted()``); one not in
        is a timeout at its full timeout."""
        counted = self.counted() if counted is None else counted
        return [
            answer
            if i in counted and answer is not None
            else OutboundResponse(
                elapsed_ms=request.timeout_s * 1000,
                error="timeout",
                detail=f"no answer within {request.timeout_s * 1000:.0f} ms",
            )
            for i, (answer, request) in enumerate(zip(self._results, self.requests, strict=True))
        ]


_engine = PerProcess(_Engine)


def send_all(
    requests: Sequence[OutboundRequest], *, cut_off: bool = False
) -> list[OutboundResponse]:
    """Send every request in parallel; returns when each has answered or timed out.

    With ``cut_off`` (pings: a late bid is simply lost) it returns once each call is in
    or past its own timeout, counted from the call, whatever the loop still has to
    clean up. Posts wait for the loop's own verdict on each call, so an answer that
    made it in time is never mistaken for a timeout.
    """
    if not requests:
        return []
    if not cut_off:
        return _engine.get().run(requests)
    fanout = fan_out(requests)
    fanout.wait()
    return fanout.answers()


def fan_out(requests: Sequence[OutboundRequest]) -> Fanout:
    """Send every request in parallel and return at once: the caller reads the answers
    as they stand whenever it likes (a ping ranks what it has before the deadline)."""
    return _engine.get().start(requests)


def send(request: OutboundRequest) -> OutboundResponse:
    return send_all([request])[0]
