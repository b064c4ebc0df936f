"""Celery tasks: load by id, call a service, nothing else.

The two a state change enqueues sit next to their work, so those modules need not
import this one: ``deliver_lead`` in ``leads.delivery`` and ``send_publisher_callback``
in ``leads.callbacks`` (their names stay ``leads.tasks.*``); they are listed here with
the periodic ones.

Tasks carry ids only and may run twice or never: the rows they point at hold the
truth, each attempt is claimed by a conditional UPDATE, and the sweeper re-queues
whatever is due but nobody is working on (a broker that was down, a killed worker).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from . import privacy
from .autopause import pause_unhealthy_campaigns
from .callbacks import due_callbacks, send_publisher_callback
from .cap_counts import reconcile_cap_counters
from .choices import DeliveryStatus, LeadStatus
from .delivery import deliver_lead
from .models import Lead
from .models_compliance import DeletionRequest, DeletionStatus
from .privacy import process_deletion_request  # noqa: F401  (a task: leads.tasks.*)

log = logging.getLogger(__name__)

# A lead queued less than this long ago has a task on its way; the sweeper leaves it be.
FRESH = timedelta(seconds=10)
SWEEP_BATCH = 500


@shared_task(ignore_result=True)
def autopause_campaigns() -> int:
    """Pause campaigns whose pings break their timeout-rate or latency limits."""
    return len(pause_unhealthy_campaigns())


@shared_task(ignore_result=True)
def reconcile_caps() -> int:
    """Set cap counters right against actual sales (on beat, every few minutes)."""
    return len(reconcile_cap_counters())


@shared_task(ignore_result=True)
def purge_expired_pii() -> dict[str, int]:
    """The daily purge (on beat): personal data past PII_RETENTION_DAYS, inbound and
    transaction logs past their retention settings."""
    counts = privacy.purge_expired_data()
    log.info("retention purge: %s", counts)
    return counts


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    """Re-queue leads and callbacks that are due but nobody is working on.

    A lead qualifies when nobody holds its lease and a delivery is due, or is still
    marked as sending (its sender died: ``advance`` recovers it), or all its deliveries
    are closed but the lead was never finished. Runs on beat every few seconds;
    duplicates it may cause are harmless.
    """
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
        privacy.process_deletion_request.delay(str(request_id))
    if lead_ids or callback_ids:
        log.info("sweeper re-queued %d lead(s), %d callback(s)", len(lead_ids), len(callback_ids))
    return len(lead_ids) + len(callback_ids)


__all__ = [
    "autopause_campaigns",
    "deliver_lead",
    "purge_expired_pii",
    "send_publisher_callback",
    "sweep_deliveries",
]
