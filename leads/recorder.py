"""What a ping leaves for after its answer, written in batches.

A ping's answer waits only for its lead and bids. The rest — its calls' transaction
log rows, its timeline events and the outcomes the circuit breakers count — is handed
to this process's recorder, which writes everything handed to it within
``CALL_LOG_FLUSH_MS`` in one transaction, then counts the circuits' outcomes in order
in one batch. At 100 pings a second that is a few writes a second instead of a few
hundred, and no ping waits for another's bookkeeping.

With ``CALL_LOG_FLUSH_MS`` at 0 (the test suite) each hand-over is written at once, in
the caller's thread. The recorder's thread flushes what it holds when the process
exits; what a killed process held (at most one interval of call logs, never a lead,
bid, sale or delivery) is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from buyers.circuits import record_outcomes
from exchange import inbound as inbound_log
from plumbing.batch_writer import BatchWriter
from plumbing.per_process import PerProcess
from plumbing.rows import insert_together

from .models import LeadEvent, TransactionLog

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Batch:
    logs: list[TransactionLog] = field(default_factory=list)
    events: list[LeadEvent] = field(default_factory=list)
    outcomes: list[tuple[int, str]] = field(default_factory=list)  # (endpoint, outcome)
    inbound: list[inbound_log.Seen] = field(default_factory=list)  # API calls to log

    def add(self, other: Batch) -> None:
        self.logs += other.logs
        self.events += other.events
        self.outcomes += other.outcomes
        self.inbound += other.inbound

    def __bool__(self) -> bool:
        return bool(self.logs or self.events or self.outcomes or self.inbound)

    def write(self) -> None:
        # The rows in one statement (PostgreSQL) or one short transaction (SQLite); the
        # circuits' reads and updates after it, so no ping's write waits on them.
        insert_together(self.logs, self.events)
        if self.outcomes:
            record_outcomes(self.outcomes)  # after the logs: the failure ratio reads them
        if self.inbound:
            inbound_log.write(self.inbound)
        for listener in written:
            try:
                listener(self)
            except Exception:
                log.exception("a recorder listener failed")


# Called with each batch once it is written, off the ping's answer path: higher layers
# register here (reporting counts the calls for /metrics) instead of being imported.
written: list[Callable[[Batch], None]] = []


class Recorder(BatchWriter[Batch]):
    """One writer thread per process, woken by the first hand-over of an interval; the
    batches handed over meanwhile are written as one."""

    def __init__(self, interval_s: float) -> None:
        super().__init__("switchyard-recorder", interval_s, _write_together)


def _write_together(batches: list[Batch]) -> None:
    batch = Batch()
    for each in batches:
        batch.add(each)
    try:
        batch.write()
    except Exception:
        # A broken connection (database restarted): one more try on a new one.
        connection.close()
        try:
            batch.write()
        except Exception:
            log.exception(
                "could not write %d call log rows and %d events; dropped",
                len(batch.logs),
                len(batch.events),
            )
            connection.close()


_recorder = PerProcess(lambda: Recorder(settings.SWITCHYARD["CALL_LOG_FLUSH_MS"] / 1000))


def record(
    logs: Sequence[TransactionLog],
    events: Sequence[LeadEvent],
    outcomes: Sequence[tuple[int, str]],
) -> None:
    """Hand over what a ping leaves for later; written now when batching is off."""
    batch = Batch(list(logs), list(events), list(outcomes))
    if settings.SWITCHYARD["CALL_LOG_FLUSH_MS"] <= 0:
        batch.write()
    else:
        _recorder.get().hand_over(batch)


def record_inbound(seen: inbound_log.Seen) -> None:
    """The inbound log's rows join the same writer thread (registered in apps.py), so one
    thread per process writes all that waits for after the answer."""
    _recorder.get().hand_over(Batch(inbound=[seen]))


def flush() -> None:
    """Write at once whatever this process's recorder holds."""
    recorder = _recorder.peek()
    if recorder is not None:
        recorder.flush()


def stop() -> None:
    """Write what this process's recorder holds and end its thread; the next hand-over
    starts a new one (the test harness, between tests)."""
    recorder = _recorder.discard()
    if recorder is not None:
        recorder.stop()
