"""SQLite for the embedded default, with write transactions queued instead of polled.

SQLite lets one connection write at a time. One that finds the database locked sleeps
and tries again (1 ms, then 2, 5, 10 ms… however soon the lock is freed), so a ping
whose write meets another's commit could wait several milliseconds for a lock that
was free after a fraction of one. Here every write transaction (``atomic()``; SQLite
starts them ``IMMEDIATE``), and every writing statement run outside one, first takes
an exclusive ``flock`` on a file beside the database: a waiter sleeps in the kernel
and is woken the moment the holder commits or rolls back, in this process or another
(web workers, the Celery worker, beat). SQLite's own locking stays underneath, so a
writer that does not queue (another program) is still safe, only slower to get in.

``ENGINE: plumbing.sqlite`` (``exchange.settings`` picks it for ``sqlite://`` URLs).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import Any

from django.db.backends.sqlite3 import base

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class _Cursor(base.SQLiteCursorWrapper):
    """Queues a writing statement run in autocommit mode (its own transaction)."""

    owner: DatabaseWrapper

    def execute(self, query: str, params: Any = None) -> Any:
        with self.owner.queued(query):
            return super().execute(query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        with self.owner.queued(query):
            return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    _write_lock: int | None = None  # the lock file's descriptor, per connection
    _write_locked = False

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if not self.is_in_memory_db():
            path = f"{self.settings_dict['NAME']}-writelock"
            self._write_lock = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return connection

    def create_cursor(self, name: str | None = None) -> Any:
        cursor = self.connection.cursor(factory=_Cursor)
        cursor.owner = self
        return cursor

    @contextlib.contextmanager
    def queued(self, query: str) -> Iterator[None]:
        """Hold the lock around a writing statement outside a transaction."""
        if (
            self._write_lock is None
            or self._write_locked
            or not self.get_autocommit()
            or not query.lstrip()[:7].upper().startswith(WRITES)
        ):
            yield
            return
        self._lock()
        try:
            yield
        finally:
            self._unlock()

    def _start_transaction_under_autocommit(self) -> None:
        if self._write_lock is not None:
            self._lock()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # private to Django, absent from its stubs
        except BaseException:
            self._unlock()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]  # private to Django, absent from its stubs
        finally:
            self._unlock()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # private to Django, absent from its stubs
        finally:
            self._unlock()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # private to Django, absent from its stubs
        finally:
            self._unlock()
            if self._write_lock is not None:
                os.close(self._write_lock)
                self._write_lock = None

    def _lock(self) -> None:
        assert self._write_lock is not None
        fcntl.flock(self._write_lock, fcntl.LOCK_EX)  # waits with the GIL released
        self._write_locked = True

    def _unlock(self) -> None:
        if self._write_locked:
            self._write_locked = False
            assert self._write_lock is not None
            fcntl.flock(self._write_lock, fcntl.LOCK_UN)
