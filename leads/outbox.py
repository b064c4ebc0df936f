"""The outbox: rows owed to someone over HTTP, sent by claimed attempts until done.

``Delivery`` (a lead owed to a buyer) and ``PublisherCallback`` (a status event owed to
a publisher) are both an ``Outbox`` row. Each is written in the transaction of the
change that makes it owed, then sent by attempts that each first *claim* the row with a
conditional UPDATE (``queued``/``retry`` → ``sending``, attempt counted), so duplicate
tasks, redelivered messages and the sweeper never send one row twice at once. A failed
attempt closes the row as ``retry`` after a backoff with jitter (``backoff_seconds``),
or as ``failed`` after its ``max_attempts``.

A row left ``sending`` lost its sender mid-call (a killed worker). Whoever finds it —
the lead's next lease holder for deliveries, the sweeper or the next attempt for
callbacks — recovers it the same way (``recover_interrupted``): sent again (the buyer
or publisher dedupes by the Idempotency-Key), unless that was its last attempt.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.db import models
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from .choices import DeliveryStatus

OPEN = (DeliveryStatus.QUEUED, DeliveryStatus.RETRY)
INTERRUPTED = "attempt interrupted (worker lost)"

Row = TypeVar("Row", bound="Outbox")


class Outbox(models.Model):
    """Fields and moves shared by every outbox row (abstract: no table of its own)."""

    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=16, blank=True, default="")
    reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @classmethod
    def claim(cls, pk: Any, now: datetime, *, due_only: bool = False) -> bool:
        """Take the row for one attempt: open (and due, if ``due_only``) → sending."""
        rows = cls._default_manager.filter(pk=pk, status__in=OPEN)
        if due_only:
            rows = rows.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        claimed = rows.filter(attempts__lt=F("max_attempts")).update(
            status=DeliveryStatus.SENDING,
            claimed_at=now,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        return bool(claimed)

    def close(
        self, status: str, outcome: str, reason: str, retry_at: datetime | None = None
    ) -> None:
        """End this attempt: ``retry`` at ``retry_at``, or a final status."""
        type(self)._default_manager.filter(pk=self.pk, status=DeliveryStatus.SENDING).update(
            status=status,
            last_outcome=outcome,
            reason=reason[:200],
            next_attempt_at=retry_at,
            updated_at=timezone.now(),
        )


def backoff_seconds(steps: Sequence[int], attempt_number: int) -> float:
    """Seconds before retry number ``attempt_number``: the steps, the last one repeating,
    plus up to 25% jitter (which spreads a recovering receiver's load)."""
    base = steps[min(attempt_number - 1, len(steps) - 1)]
    return base * (1 + random.uniform(0, 0.25))


def recover_interrupted(rows: QuerySet[Row], now: datetime | None = None) -> int:
    """Rows of ``rows`` left ``sending`` by a sender that died: open again, due now, or
    failed if that was their last attempt. Returns how many were recovered."""
    now = now or timezone.now()
    sending = rows.filter(status=DeliveryStatus.SENDING)
    retried = sending.filter(attempts__lt=F("max_attempts")).update(
        status=DeliveryStatus.RETRY, next_attempt_at=now, reason=INTERRUPTED, updated_at=now
    )
    failed = sending.update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, reason=INTERRUPTED, updated_at=now
    )
    return retried + failed
