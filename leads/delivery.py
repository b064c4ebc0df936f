"""Moving a lead down its waterfall of deliveries until one buyer accepts it.

The same function serves the synchronous post (bounded by the post deadline) and
the Celery worker (retries, async mode, the sweeper). Two rows make it safe:
the lead's lease (one actor at a time walks a lead's waterfall) and each
delivery's status (claimed by a conditional UPDATE before every attempt), so
duplicate tasks, redelivered messages and the sweeper can never post twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from buyers.choices import Outcome
from exchange.config_cache import Config, get_config
from plumbing.logs import bind, clear

from . import claims
from .attempts import WALKING, attempt, give_back_interrupted
from .callbacks import queue_callback
from .choices import DeliveryStatus, LeadStatus
from .ledger import money
from .models import Delivery, Lead
from .outbox import OPEN, recover_interrupted
from .post_checks import AT_POST
from .queue import enqueue_after_commit
from .transitions import move_lead

log = logging.getLogger(__name__)

MIN_ATTEMPT_MS = 100
# The lease covers one attempt: the call's timeout, the transport's overrun guard (5 s)
# and this margin for the database work around it. It is renewed before every attempt,
# so a killed worker's lead is free again within one attempt's time.
LEASE_MARGIN_S = 10


@dataclass(slots=True)
class Held:
    """A lead whose lease the request took when it wrote it (``fresh_lease``), with the
    delivery rows it has just written: the walk starts from them, with nothing to
    read back and nothing interrupted to recover."""

    lead: Lead
    token: datetime
    rows: list[Delivery]


def fresh_lease(config: Config, campaign_ids: list[int], now: datetime) -> datetime:
    """A lease (its token) for a lead being written now, long enough for one attempt
    at any of ``campaign_ids``: written with the lead's row, it costs no query."""
    timeouts = [
        c.post.timeout_ms
        for c in (config.campaigns.get(i) for i in campaign_ids)
        if c is not None and c.post is not None
    ]
    return now + timedelta(seconds=max(timeouts, default=0) / 1000 + 5 + LEASE_MARGIN_S)


def start_deliveries(
    lead: Lead,
    ranked: list[tuple[int, Decimal, Any]],
    skip_buyers: dict[int, str],
    config: Config,
    skip_campaigns: dict[int, str] | None = None,
    *,
    claim_first: bool = False,
) -> list[Delivery]:
    """The outbox: one delivery row per ranked bid, committed before anyone is told.
    Campaigns in ``skip_campaigns`` (the checks at post) get a skipped row with the reason.
    ``claim_first`` (a sync post holding the lead's lease, see ``Held``): the first row
    to post is written already claimed for its first attempt, as ``Delivery.claim``
    would leave it; the insert is the claim, since no one else knows the row yet."""
    skip_campaigns = skip_campaigns or {}
    now = timezone.now()
    rows: list[Delivery] = []
    for rank, (campaign_id, price, bid) in enumerate(ranked, start=1):
        campaign = config.campaigns.get(campaign_id)
        status, reason = DeliveryStatus.QUEUED, ""
        if campaign is None or not campaign.live:
            status, reason = DeliveryStatus.SKIPPED, "campaign no longer live"
        elif campaign.buyer_id in skip_buyers:
            status, reason = DeliveryStatus.SKIPPED, skip_buyers[campaign.buyer_id]
        elif campaign_id in skip_campaigns:
            status, reason = DeliveryStatus.SKIPPED, skip_campaigns[campaign_id][:200]
        rows.append(
            Delivery(
                lead=lead,
                campaign_id=campaign_id,
                bid=bid,
                rank=rank,
                price=price,
                status=status,
                reason=reason,
                max_attempts=campaign.max_attempts if campaign else 1,
                next_attempt_at=now,
            )
        )
    if claim_first:
        first = next((d for d in rows if d.status == DeliveryStatus.QUEUED), None)
        if first is not None and first.max_attempts >= 1:
            first.status, first.attempts, first.claimed_at = DeliveryStatus.SENDING, 1, now
    with transaction.atomic():
        return Delivery.objects.bulk_create(rows)


def answer_for(
    lead: Lead, *, mode: str, config: Config, held: Held | None = None
) -> dict[str, Any]:
    """Deliver within the post deadline (sync) or not at all (async), then answer.
    ``held``: the lease and rows a sync post took when it wrote the lead."""
    if mode == "async":
        _park(lead, "async post")
    else:
        vertical = next(v for v in config.verticals.values() if v.id == lead.vertical_id)
        deadline = timezone.now() + timedelta(milliseconds=vertical.post_deadline_ms)
        advance(lead.pk, deadline=deadline, config=config, held=held)
    if lead.result is None or lead.status in WALKING:
        lead.refresh_from_db()  # finished by another actor, or not in this object
    return lead.result or publisher_answer(lead)


def publisher_answer(lead: Lead) -> dict[str, Any]:

    if lead.status == LeadStatus.SOLD:
        return {"lead_id": str(lead.id), "status": "sold", "price": money(lead.payout)}
    if lead.status in (LeadStatus.REJECTED, LeadStatus.FAILED):
        return {"lead_id": str(lead.id), "status": "rejected", "reasons": lead.reasons}
    return {"lead_id": str(lead.id), "status": "pending"}


# --- the lease -----------------------------------------------------------------------
# ``lease_until`` doubles as the holder's token: only the holder knows its exact value,
# so renewing and releasing are conditional on it.


def acquire_lease(lead_id: Any, seconds: float) -> datetime | None:
    """Take the lead's lease if it is free; returns the token, or None."""
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    taken = (
        Lead.objects.filter(pk=lead_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=until)
    )
    return until if taken else None


def renew_lease(lead_id: Any, token: datetime, seconds: float) -> datetime | None:
    """Extend a lease we hold; None when it expired and someone else took it."""
    until = timezone.now() + timedelta(seconds=seconds)
    renewed = Lead.objects.filter(pk=lead_id, lease_until=token).update(lease_until=until)
    return until if renewed else None


def release_lease(lead_id: Any, token: datetime) -> None:
    Lead.objects.filter(pk=lead_id, lease_until=token).update(lease_until=None)


# --- the waterfall ---------------------------------------------------------------------


def advance(
    lead_id: Any,
    *,
    deadline: datetime | None = None,
    config: Config | None = None,
    held: Held | None = None,
) -> str:
    """Walk the lead's waterfall in rank order until one buyer accepts or all are done.

    Returns the lead's status afterwards. A bidder that failed in a retryable way is
    retried after its backoff (up to its ``max_attempts``) before the next bidder gets
    the lead; one whose post circuit is open steps aside for the next bidder at once
    and is retried later. Within a sync post's ``deadline`` the walk waits for a
    retry that falls due in time; otherwise the lead is parked as pending with a
    task scheduled for the next retry.
    """
    config = config or get_config()
    token: datetime | None
    if held is not None:
        token = held.token
    else:
        token = acquire_lease(lead_id, LEASE_MARGIN_S)
        if token is None:
            status = Lead.objects.filter(pk=lead_id).values_list("status", flat=True).first()
            return status or "missing"  # a task for a lead deleted since is harmless
    try:
        if held is None:
            _recover_interrupted(lead_id)
        while True:
            fresh = held is not None
            if held is not None:
                # The first turn from what the request wrote itself, under its lease.
                lead = held.lead
                open_rows = [r for r in held.rows if r.status in OPEN]
                first = next((r for r in held.rows if r.status == DeliveryStatus.SENDING), None)
                held = None
                if first is not None:  # written claimed (``claim_first``): post it now
                    now = timezone.now()
                    remaining_ms = (deadline - now).total_seconds() * 1000 if deadline else None
                    attempt(
                        first,
                        lead,
                        config,
                        max_ms=remaining_ms,
                        others_open=bool(open_rows),
                        claimed=True,
                    )
                    if lead.status == LeadStatus.SOLD:
                        token = None  # the sale cleared the lease with the same write
                        return lead.status
                    continue
            else:
                lead = Lead.objects.get(pk=lead_id)
                if lead.status not in WALKING:
                    return lead.status
                rows = lead.deliveries.filter(status__in=OPEN).select_related("bid")
                open_rows = list(rows.order_by("rank"))
            if not open_rows:
                return _finish_unsold(lead)
            now = timezone.now()
            turn, wake = _next_in_line(open_rows, now)
            remaining_ms = (deadline - now).total_seconds() * 1000 if deadline else None
            if turn is None and remaining_ms is not None:
                wait = (wake - now).total_seconds()
                if wait * 1000 + MIN_ATTEMPT_MS <= remaining_ms:
                    token = renew_lease(lead_id, token, wait + LEASE_MARGIN_S)
                    if token is None:
                        return lead.status
                    time.sleep(wait)  # a sync post spends its deadline on the retry
                    continue
            if turn is None or (remaining_ms is not None and remaining_ms < MIN_ATTEMPT_MS):
                _park(lead, "waiting for retries", wake if turn is None else now)
                return LeadStatus.PENDING
            if not fresh:  # a fresh lease was sized for this first attempt
                token = renew_lease(lead_id, token, _attempt_seconds(turn, config))
                if token is None:
                    return lead.status  # our lease ran out and another actor took over
            attempt(turn, lead, config, max_ms=remaining_ms, others_open=len(open_rows) > 1)
            if lead.status == LeadStatus.SOLD:
                token = None  # the sale cleared the lease with the same write
                return lead.status
    finally:
        if token is not None:
            release_lease(lead_id, token)


def _next_in_line(open_rows: list[Delivery], now: datetime) -> tuple[Delivery | None, datetime]:
    """The delivery whose turn it is now, or (None, when the next one falls due).

    Rank order decides: a bidder waiting out a backoff holds the lead until it is
    retried or gives up, except one whose circuit was open, which lets the next
    bidder go first.
    """
    waiting: list[datetime] = []
    for delivery in open_rows:
        due_at = delivery.next_attempt_at or now
        if due_at <= now:
            return delivery, now
        waiting.append(due_at)
        if delivery.last_outcome != Outcome.CIRCUIT_OPEN:
            break
    return None, min(waiting)


def _attempt_seconds(delivery: Delivery, config: Config) -> float:
    campaign = config.campaigns.get(delivery.campaign_id)
    timeout_ms = campaign.post.timeout_ms if campaign and campaign.post else 0
    return timeout_ms / 1000 + 5 + LEASE_MARGIN_S


def _recover_interrupted(lead_id: Any) -> None:
    """Deliveries left 'sending' under an expired lease lost their sender mid-call.

    Whether the buyer got that post is unknown, so it is sent again with the same
    Idempotency-Key (a retry), unless it was the last attempt allowed. What the lost
    attempt took from the caps is given back first: the retry takes its own.
    """
    deliveries = Delivery.objects.filter(lead_id=lead_id)
    given = give_back_interrupted(deliveries.filter(status=DeliveryStatus.SENDING))
    recovered = recover_interrupted(deliveries)
    if recovered:
        log.warning(
            "lead %s: %d interrupted delivery attempt(s) recovered, %d cap reservation(s) "
            "given back",
            lead_id,
            recovered,
            given,
        )


def _park(lead: Lead, note: str, when: datetime | None = None) -> None:
    """Leave the lead to the workers: status pending, a task scheduled after commit."""
    with transaction.atomic():
        if lead.status == LeadStatus.POSTING:
            move_lead(lead, LeadStatus.PENDING, note=note, result=None, reasons=[])
        schedule_lead(lead.pk, when)


def _finish_unsold(lead: Lead) -> str:
    failed = lead.deliveries.filter(status=DeliveryStatus.FAILED).exists()
    skipped_only = not lead.deliveries.exclude(status=DeliveryStatus.SKIPPED).exists()
    status = LeadStatus.FAILED if failed else LeadStatus.REJECTED
    if skipped_only:
        reasons = sorted({r for r in lead.deliveries.values_list("reason", flat=True)})
        if any("duplicate" in r for r in reasons):
            reason = "duplicate"
        elif reasons and all(r.startswith(AT_POST) for r in reasons):
            reason = "no_eligible_buyers"  # every bidder fell to the checks at post
        else:
            reason = "all_buyers_rejected"
    else:
        reason = "delivery_failed" if failed else "all_buyers_rejected"
    answer = {"lead_id": str(lead.id), "status": "rejected", "reasons": [reason]}
    with transaction.atomic():
        event = move_lead(lead, status, note=reason, reasons=[reason], result=answer)
        if event is not None:
            queue_callback(lead, event)
            claims.release(lead.pk)  # unsold: the person is free for the next lead
    return status


# --- replay ---------------------------------------------------------------------------------


def replay_lead(lead: Lead, *, by: str = "an account manager") -> bool:
    """Give a failed lead's failed deliveries a fresh set of attempts and schedule it.

    Returns False when the lead is not failed (already replayed, or sold since), so
    a double click replays once. Deliveries are re-sent with the same Idempotency-Key.
    """
    now = timezone.now()
    hashes = [] if lead.is_test else claims.person_hashes(lead.phone_hash, lead.email_hash)
    with transaction.atomic():
        # The person was given back when the lead failed: take them again, or leave the
        # lead failed if another lead of theirs is live now (it would be a duplicate).
        if not claims.claim_person(lead.pk, lead.vertical_id, hashes, now):
            return False
        moved = move_lead(
            lead,
            LeadStatus.PENDING,
            from_statuses=[LeadStatus.FAILED],
            note=f"replayed by {by}",
            at=now,
            result=None,
            reasons=[],
        )
        if moved is None:
            claims.release(lead.pk)
            return False
        lead.deliveries.filter(status=DeliveryStatus.FAILED).update(
            status=DeliveryStatus.QUEUED,
            attempts=0,
            next_attempt_at=now,
            reason=f"replayed by {by}"[:200],
            updated_at=now,
        )
        schedule_lead(lead.pk)
    return True


# --- the task -------------------------------------------------------------------------------


@shared_task(
    name="leads.tasks.deliver_lead", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def deliver_lead(lead_id: str) -> str:
    """Move one lead down its waterfall as far as it can go now (``leads.tasks`` lists it)."""
    clear()
    bind(lead_id=lead_id)
    return advance(lead_id)


def schedule_lead(lead_id: Any, when: datetime | None = None) -> None:
    """Enqueue ``deliver_lead`` after commit (the sweeper covers a broker outage)."""
    enqueue_after_commit(deliver_lead, str(lead_id), when)
