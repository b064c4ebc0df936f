"""What counts as a dependency being down, and retrying a write through a blip.

A database connection that was cut (a restart, a failover, a killed backend), a broker
or a cache that cannot be reached: none of them is the caller's fault or our bug, so
the API answers 503 with ``Retry-After`` (``exchange.api.errors``) rather than 500.
Integrity and data errors are not among them: those are bugs, and stay 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)

T = TypeVar("T")


def _dependency_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OperationalError, InterfaceError]
    try:
        from kombu.exceptions import OperationalError as BrokerDown

        errors.append(BrokerDown)
    except ImportError:  # pragma: no cover - kombu ships with Celery
        pass
    try:
        from redis.exceptions import ConnectionError as CacheDown
        from redis.exceptions import TimeoutError as CacheSlow

        errors += [CacheDown, CacheSlow]
    except ImportError:  # pragma: no cover - only with a Redis cache
        pass
    return tuple(errors)


DEPENDENCY_ERRORS = _dependency_errors()
DB_ERRORS = (OperationalError, InterfaceError)
# Seconds a publisher is asked to wait when a dependency is down.
RETRY_AFTER_S = 5
# Pauses between tries of a write that must not be lost to a dropped connection.
WRITE_PAUSES_S = (0.05, 0.25, 0.75)


def retrying_write(write: Callable[[], T], what: str) -> T:
    """``write()``, tried again on a fresh connection when the database connection fails.

    Only outside a transaction: inside one, a new connection could not see (or finish)
    what the transaction did, so the error goes up to whoever opened it. ``write`` must
    be safe to run again after a failure (a transaction that rolled back, a conditional
    UPDATE).
    """
    for pause in (*WRITE_PAUSES_S, None):
        try:
            return write()
        except DB_ERRORS:
            if pause is None or connection.in_atomic_block:
                raise
            log.warning("%s failed on a database error; trying again", what, exc_info=True)
            connection.close()  # the next query opens a fresh connection
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover
