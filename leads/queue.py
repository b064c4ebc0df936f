"""Enqueueing a task once the transaction that made it due has committed."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import Task
from django.db import transaction

log = logging.getLogger(__name__)


def enqueue_after_commit(task: Task, arg: str, when: datetime | None = None) -> None:
    """Enqueue ``task(arg)`` once the current transaction commits (at once outside one).

    A broker that is down must not fail the caller: the row is already committed and
    the sweeper enqueues it later, so nothing is lost.
    """

    def enqueue() -> None:
        try:
            task.apply_async((arg,), eta=when)
        except Exception:  # kombu raises many types for an unreachable broker
            log.warning("could not enqueue %s(%s); the sweeper will", task.name, arg, exc_info=True)

    transaction.on_commit(enqueue)
