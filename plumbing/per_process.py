"""One object per process, for things that own a thread (an event loop, a writer).

A thread does not survive a fork, and gunicorn and Celery's prefork pool fork after
import, so such an object is built on first use in each process, never inherited.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerProcess(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None
        self._pid = 0

    def get(self) -> T:
        if self._value is None or self._pid != os.getpid():
            with self._lock:
                if self._value is None or self._pid != os.getpid():
                    self._value, self._pid = self._build(), os.getpid()
        return self._value

    def peek(self) -> T | None:
        """This process's object if it was built here, else None (nothing is built)."""
        return self._value if self._pid == os.getpid() else None

    def discard(self) -> T | None:
        """Forget this process's object and return it (or None): the next ``get()``
        builds a new one (after the caller stopped the old one's thread)."""
        with self._lock:
            value = self.peek()
            self._value = None
            return value
