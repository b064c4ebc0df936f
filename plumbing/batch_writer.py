"""A thread per process that writes, in batches, what requests leave for after their answer.

A request thread hands an item over (``hand_over``) and returns at once; the first
hand-over of an interval wakes the thread, which waits ``interval_s`` for the interval's
other items to join, then writes them all with one call of ``write``. ``flush`` writes
what is held now, in the caller's thread, and returns once it is written, including a
batch the thread was writing meanwhile (process exit; tests). ``stop`` writes what is
held, ends the thread and closes its database connection (a test harness between
tests; a process shutting down cleanly).

``leads.recorder`` (call logs, timeline events, circuit outcomes and the inbound log)
and ``exchange.inbound`` (the inbound log on its own) are built on it.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.db import connection

T = TypeVar("T")


class BatchWriter(Generic[T]):
    def __init__(self, name: str, interval_s: float, write: Callable[[list[T]], None]) -> None:
        self.interval_s = interval_s
        self.write = write
        self.pending: list[T] = []
        self.lock = threading.Lock()  # guards ``pending``
        self.writing = threading.Lock()  # held while a batch is written
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        atexit.register(self.flush)

    def hand_over(self, item: T) -> None:
        with self.lock:
            self.pending.append(item)
        self.wake.set()

    def flush(self) -> None:
        with self.writing:
            with self.lock:
                batch, self.pending = self.pending, []
            if batch:
                self.write(batch)

    def stop(self) -> None:
        """Write what is held and end the thread (it closes its own connection)."""
        self.stopping.set()
        self.wake.set()
        self.thread.join()
        atexit.unregister(self.flush)
        self.flush()

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.wake.wait()
                # Let the interval's other requests join this write (cut short by stop()).
                self.stopping.wait(self.interval_s)
                self.wake.clear()
                self.flush()
        finally:
            connection.close()  # this thread's own
