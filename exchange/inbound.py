"""The inbound log: a row for every call to the public API, refused ones included.

The view hands over what it saw (``Seen``) when the answer is ready; masking the body
and writing the row happen later, on this process's writer thread, in batches every
``CALL_LOG_FLUSH_MS`` (at once, in the caller's thread, when that is 0, as in the test
suite), like the call log of pings (``leads.recorder``). What a killed process held
(at most one interval of rows) is lost; never a lead.
"""

from __future__ import annotations

import codecs
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from plumbing.batch_writer import BatchWriter
from plumbing.fields import PII_FIELDS
from plumbing.masking import MASK, pii_values, scrub_text
from plumbing.per_process import PerProcess
from plumbing.rows import insert_together

from .models import InboundLog

log = logging.getLogger(__name__)

MAX_BODY = 20000
# Besides the lead's own values: whatever follows a personal field's name in a body
# that could not be parsed (JSON, form or XML), so a malformed body leaks nothing either.
_NAMES = "|".join(sorted(PII_FIELDS | {"phone", "email"}))
_BY_KEY = [
    re.compile(rf'("(?:{_NAMES})"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}}\]\s]+)'),
    re.compile(rf"((?:^|[&?])(?:{_NAMES})=)([^&]*)"),
    re.compile(rf"(<(?:{_NAMES})>)([^<]*)"),
]


def _masked_value(match: re.Match[str]) -> str:
    quoted = match.group(2).startswith('"')  # JSON stays JSON
    return match.group(1) + (f'"{MASK}"' if quoted else MASK)


@dataclass(slots=True)
class Seen:
    """One API call as the view saw it; ``row()`` masks and builds the log row."""

    method: str
    path: str
    status: int
    error_code: str
    key_prefix: str
    publisher_id: int | None
    buyer_id: int | None
    lead_id: str
    client_ip: str
    latency_ms: float
    body: bytes
    values: list[str]

    def row(self) -> InboundLog:
        text = _decoded(self.body[: MAX_BODY * 2])
        for pattern in _BY_KEY:
            text = pattern.sub(_masked_value, text)
        try:
            lead_id = uuid.UUID(self.lead_id) if self.lead_id else None
        except ValueError:
            lead_id = None
        return InboundLog(
            method=self.method[:8],
            path=self.path[:200],
            status_code=self.status,
            error_code=self.error_code[:64],
            key_prefix=self.key_prefix[:16],
            publisher_id=self.publisher_id,
            buyer_id=self.buyer_id,
            lead_id=lead_id,
            client_ip=self.client_ip or None,
            latency_ms=round(self.latency_ms),
            body=scrub_text(text, self.values)[:MAX_BODY],
        )


# A body's encoding by its byte-order mark (UTF-32's marks start like UTF-16's: first).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decoded(body: bytes) -> str:
    """The body as text: a UTF-16 XML body must be read as such, or its personal values,
    one NUL byte between each letter, would slip past the masking; and PostgreSQL
    refuses a NUL in a text column whatever the encoding was."""
    encoding = next((name for bom, name in _BOMS if body.startswith(bom)), "utf-8")
    return body.decode(encoding, "replace").replace("\x00", "\ufffd")


def personal_values(data: Any) -> list[str]:
    """The personal values in a parsed body: the lead's, or a suppression's phone/email."""
    if not isinstance(data, Mapping):
        return []
    found: dict[str, Any] = {}
    lead = data.get("lead")
    for source in (lead if isinstance(lead, Mapping) else {}, data):
        for key, value in source.items():
            if key in PII_FIELDS and isinstance(value, str | int | float):
                found.setdefault(key, value)
    return pii_values(found)


def write(batch: list[Seen]) -> None:
    try:
        insert_together([seen.row() for seen in batch])
    except Exception:
        log.exception("could not write %d inbound log row(s); dropped", len(batch))
        connection.close()


_writer = PerProcess(
    lambda: BatchWriter(
        "switchyard-inbound", settings.SWITCHYARD["CALL_LOG_FLUSH_MS"] / 1000, write
    )
)


_hand_over: Callable[[Seen], None] | None = None


def register_writer(hand_over: Callable[[Seen], None]) -> None:
    """Let a higher layer's writer thread take the rows (``leads.recorder`` does, so a
    process has one thread writing after the answers, not two competing for SQLite)."""
    global _hand_over
    _hand_over = hand_over


def record(seen: Seen) -> None:
    """Hand over one call; written now when batching is off."""
    if settings.SWITCHYARD["CALL_LOG_FLUSH_MS"] <= 0:
        write([seen])
    elif _hand_over is not None:
        _hand_over(seen)
    else:
        _writer.get().hand_over(seen)


def flush() -> None:
    writer = _writer.peek()
    if writer is not None:
        writer.flush()
