"""Structured logs: who a log line is about, and JSON lines when ``LOG_FORMAT=json``.

Every request gets a request id (the caller's ``X-Request-ID`` when it is sane, else a
new one), sent back in the response's ``X-Request-ID``. Code that learns more binds it
(``bind(lead_id=..., publisher=...)``) and every log line of that request or task
carries it: the ``context`` filter copies the bound fields onto each record, where the
JSON formatter writes them. PII is masked by the handler's own filter, before any
formatter sees the message.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

FIELDS = ("request_id", "lead_id", "publisher")
_EMPTY: dict[str, str] = {}  # never mutated: bind() sets a new dict
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "log_context",
    default=_EMPTY,  # noqa: B039
)
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
requests_log = logging.getLogger("switchyard.request")


def bind(**fields: Any) -> None:
    """Add fields to the current request's (or task's) log context."""
    _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}})


def bound() -> dict[str, str]:
    return dict(_context.get())


def clear() -> None:
    _context.set({})


class ContextFilter(logging.Filter):
    """Puts the bound fields on every record (empty when nothing is bound)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        for name in FIELDS:
            if not getattr(record, name, None):
                setattr(record, name, context.get(name, ""))
        return True


class RequestContextMiddleware:
    """Binds a request id for the request's log lines; with ``log_requests`` on, logs
    one line per request (method, path, status, time) once it is answered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from django.conf import settings

        self.get_response = get_response
        self.log_requests = bool(getattr(settings, "LOG_REQUESTS", False))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        token = _context.set({"request_id": request_id})
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            if self.log_requests:
                requests_log.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
            return response
        finally:
            _context.reset(token)


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` setting: plain text or JSON lines, PII masked either way."""
    formatters: dict[str, Any] = {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s "
            + " ".join(f"%({name})s" for name in FIELDS),
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "mask_pii": {"()": "plumbing.pii.MaskPiiLogFilter"},
            "context": {"()": "plumbing.logs.ContextFilter"},
        },
        "formatters": formatters,
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["context", "mask_pii"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }
