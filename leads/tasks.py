"""Celery tasks: load by id, call a service, nothing else.

Tasks carry ids only and may run twice or never: the rows they point at hold the
truth, each attempt is claimed by a conditional UPDATE, and the sweeper re-queues
whatever is due but nobody is working on (a broker that was down, a killed worker).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import Task, shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .choices import DeliveryStatus, LeadStatus
from .models import Lead
from .models_compliance import DeletionRequest, DeletionStatus

log = logging.getLogger(__name__)

# A lead queued less than this long ago has a task on its way; the sweeper leaves it be.
FRESH = timedelta(seconds=10)
SWEEP_BATCH = 500


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_lead(lead_id: str) -> str:
    """Move one lead down its waterfall as far as it can go now."""
    from .delivery import advance

    return advance(lead_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_publisher_callback(callback_id: str) -> str:
    """One attempt at one publisher callback."""
    from .callbacks import deliver_callback

    return deliver_callback(int(callback_id))


@shared_task(ignore_result=True)
def autopause_campaigns() -> int:
    """Pause campaigns whose pings break their timeout-rate or latency limits."""
    from buyers.autopause import pause_unhealthy_campaigns

    return len(pause_unhealthy_campaigns())


@shared_task(ignore_result=True)
def purge_expired_pii() -> dict[str, int]:
    """The daily purge (on beat): personal data past PII_RETENTION_DAYS, inbound and
    transaction logs past their retention settings."""
    from . import privacy

    counts = privacy.purge_expired_data()
    log.info("retention purge: %s", counts)
    return counts


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def process_deletion_request(request_id: str) -> str:
    """Erase one person's data for their deletion request, and stamp it done."""
    from . import privacy

    return str(privacy.process_deletion(request_id).status)


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


def schedule_lead(lead_id: Any, when: datetime | None = None) -> None:
    """Enqueue ``deliver_lead`` after commit (the sweeper covers a broker outage)."""
    enqueue_after_commit(deliver_lead, str(lead_id), when)


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    """Re-queue leads and callbacks that are due but nobody is working on.

    A lead qualifies when nobody holds its lease and a delivery is due, or is still
    marked as sending (its sender died: ``advance`` recovers it), or all its deliveries
    are closed but the lead was never finished. Runs on beat every few seconds;
    duplicates it may cause are harmless.
    """
    from .callbacks import due_callbacks

    now = timezone.now()
    idle = (
        Lead.objects.filter(status__in=(LeadStatus.POSTING, LeadStatus.PENDING))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(posted_at__isnull=True) | Q(posted_at__lt=now - FRESH))
    )
    due = Q(
        deliveries__status__in=(DeliveryStatus.QUEUED, DeliveryStatus.RETRY),
        deliveries__next_attempt_at__lte=now,
    ) | Q(deliveries__status=DeliveryStatus.SENDING)
    lead_ids = set(idle.filter(due).values_list("id", flat=True).distinct()[:SWEEP_BATCH])
    # Every delivery closed but the lead never finished: its walker died in between.
    stranded = idle.filter(deliveries__isnull=False).exclude(
        deliveries__status__in=(DeliveryStatus.QUEUED, DeliveryStatus.RETRY, DeliveryStatus.SENDING)
    )
    lead_ids.update(stranded.values_list("id", flat=True).distinct()[:SWEEP_BATCH])
    for lead_id in lead_ids:
        deliver_lead.delay(str(lead_id))
    callback_ids = due_callbacks(now, SWEEP_BATCH)
    for callback_id in callback_ids:
        send_publisher_callback.delay(str(callback_id))
    # A deletion request whose task never came (a broker that was down when it was filed).
    for request_id in DeletionRequest.objects.filter(
        status=DeletionStatus.RECEIVED, created_at__lt=now - FRESH
    ).values_list("id", flat=True)[:SWEEP_BATCH]:
        process_deletion_request.delay(str(request_id))
    if lead_ids or callback_ids:
        log.info("sweeper re-queued %d lead(s), %d callback(s)", len(lead_ids), len(callback_ids))
    return len(lead_ids) + len(callback_ids)
