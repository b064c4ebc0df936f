"""Shedding load: a saturated web process answers a fast 503 instead of queueing forever.

Two guards, before any other work (no key check, no query, nothing sold):

- **In flight.** At most ``API_MAX_IN_FLIGHT`` publisher and buyer API requests run at
  once in a process; one more is answered ``503 overloaded`` with ``Retry-After``. Run
  the server with more threads than this (say twice as many), so that the excess
  requests reach this answer instead of waiting in the server's own queue.
- **Queued too long.** A request that a proxy stamped on arrival (``X-Request-Start``:
  ``t=<unix time>`` in seconds, milliseconds or microseconds, as nginx and most load
  balancers send it) and that has already waited ``API_QUEUE_DEADLINE_MS`` is answered
  503 without being started: its client has likely given up, and a WSGI server cannot
  tell whether it has.

The health check is never shed: a load balancer must still see the process alive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import error_body

SHED_PREFIX = "/api/v1/"
NEVER_SHED = ("/api/v1/health",)
RETRY_AFTER_S = 1
# A stamp further off than this is a foreign clock or a made-up header: ignored.
IMPLAUSIBLE_WAIT_S = 3600.0


def queued_for(header: str, now: float) -> float | None:
    """Seconds since the proxy's ``X-Request-Start`` stamp (None: none or unreadable)."""
    text = header.strip().removeprefix("t=")
    try:
        stamp = float(text)
    except ValueError:
        return None
    if stamp > 1e14:
        stamp /= 1e6  # microseconds
    elif stamp > 1e11:
        stamp /= 1e3  # milliseconds
    waited = now - stamp
    return waited if 0 <= waited < IMPLAUSIBLE_WAIT_S else None


def overloaded(message: str) -> HttpResponse:
    response = JsonResponse(error_body("overloaded", message), status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


class LoadShedMiddleware:
    """The two guards above, for paths under ``/api/v1/``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.lock = threading.Lock()
        self.in_flight = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if not path.startswith(SHED_PREFIX) or path.startswith(NEVER_SHED):
            return self.get_response(request)
        limits = settings.SWITCHYARD
        deadline_ms = limits["API_QUEUE_DEADLINE_MS"]
        stamp = request.META.get("HTTP_X_REQUEST_START")
        if deadline_ms and stamp:
            waited = queued_for(stamp, time.time())
            if waited is not None and waited * 1000 > deadline_ms:
                return overloaded("The request waited too long for the exchange; retry.")
        most = limits["API_MAX_IN_FLIGHT"]
        if not most:
            return self.get_response(request)
        with self.lock:
            if self.in_flight >= most:
                full = True
            else:
                full = False
                self.in_flight += 1
        if full:
            return overloaded("The exchange is at capacity; retry after Retry-After seconds.")
        try:
            return self.get_response(request)
        finally:
            with self.lock:
                self.in_flight -= 1
