"""Signed status callbacks to publishers.

When a lead reaches a final status (sold, rejected, failed) and its publisher set a
``callback_url``, a ``PublisherCallback`` row is written in the same transaction as
the status change (the outbox), then a task sends it: a JSON body signed with the
publisher's own secret, ``X-Switchyard-Signature: sha256=<hex HMAC-SHA256 of the
body>``. Failures are retried like deliveries (408/429/5xx, timeouts and transport
errors; backoff with jitter; at most ``max_attempts``), every attempt is logged in
the transaction log (kind ``callback``), and each row is claimed by a conditional
UPDATE before every attempt, so duplicate tasks never send one event twice at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from buyers.choices import Outcome
from buyers.transport import OutboundRequest, OutboundResponse, send
from exchange.models import Publisher

from .choices import DeliveryStatus, LeadStatus, LogKind
from .ledger import money
from .models import Lead, LeadEvent, PublisherCallback, TransactionLog
from .outbox import OPEN, backoff_seconds, recover_interrupted
from .queue import enqueue_after_commit

SIGNATURE_HEADER = "X-Switchyard-Signature"
TIMEOUT_MS = 5000
MAX_ATTEMPTS = 5
# A claim older than this belongs to a sender that died mid-call.
STALE_CLAIM = timedelta(milliseconds=TIMEOUT_MS) + timedelta(seconds=30)
# What the publisher API calls each final status (a failed lead reads as rejected).
PUBLIC_STATUS: dict[str, str] = {
    LeadStatus.SOLD: "sold",
    LeadStatus.REJECTED: "rejected",
    LeadStatus.FAILED: "rejected",
}


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def queue_callback(
    lead: Lead, event: LeadEvent, *, callback_url: str | None = None
) -> PublisherCallback | None:
    """Owe the publisher this status event; call inside the status change's transaction.

    Does nothing for non-final statuses or when the publisher has no callback URL.
    The task is enqueued after commit; if the broker is down the sweeper sends it later.
    """

    public = PUBLIC_STATUS.get(event.to_status)
    if public is None:
        return None
    if callback_url is None:  # not known to the caller (from the configuration cache)
        url = Publisher.objects.filter(pk=lead.publisher_id).values_list("callback_url", flat=True)
        callback_url = url.first() or ""
    if not callback_url:
        return None
    payload: dict[str, Any] = {
        "event": "lead.status",
        "lead_id": str(lead.id),
        "status": public,
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "test": lead.is_test,
    }
    if event.to_status == LeadStatus.SOLD:
        payload["price"] = money(lead.payout)
    else:
        payload["reasons"] = list(lead.reasons)
    return owe_callback(lead, payload, event=event)


def owe_callback(lead: Lead, payload: dict[str, Any], **cause: Any) -> PublisherCallback:
    """The outbox row that owes the publisher ``payload`` about ``lead`` (``cause``: the
    status ``event`` or the ``disposition`` it reports), sent after commit."""
    callback = PublisherCallback.objects.create(
        lead=lead,
        publisher_id=lead.publisher_id,
        payload=payload,
        max_attempts=MAX_ATTEMPTS,
        next_attempt_at=timezone.now(),
        **cause,
    )
    schedule_callback(callback.pk)
    return callback


@shared_task(
    name="leads.tasks.send_publisher_callback",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def send_publisher_callback(callback_id: str) -> str:
    """One attempt at one publisher callback (the task; ``leads.tasks`` lists it)."""
    return deliver_callback(int(callback_id))


def schedule_callback(callback_id: int, when: datetime | None = None) -> None:
    """Enqueue ``send_publisher_callback`` after commit; a broker failure is left to the
    sweeper."""
    enqueue_after_commit(send_publisher_callback, str(callback_id), when)


def deliver_callback(callback_id: int) -> str:
    """One claimed attempt at one callback; returns the outcome class (or why not sent)."""
    now = timezone.now()
    # A claim this old belongs to a sender that died mid-call.
    recover_interrupted(
        PublisherCallback.objects.filter(pk=callback_id, claimed_at__lt=now - STALE_CLAIM), now
    )
    if not PublisherCallback.claim(callback_id, now, due_only=True):
        return "not_claimed"
    callback = PublisherCallback.objects.select_related("lead").get(pk=callback_id)
    url, secret = Publisher.objects.values_list("callback_url", "callback_secret").get(
        pk=callback.publisher_id
    )
    if not url:
        callback.close(DeliveryStatus.FAILED, "", "the publisher removed its callback URL")
        return "no_url"
    body = encode(callback.payload)
    request = OutboundRequest(
        "POST",
        url,
        body,
        {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body),
            "Idempotency-Key": f"callback:{callback.pk}",
        },
        TIMEOUT_MS / 1000,
    )
    response = send(request)
    outcome, retryable, reason = _classify(response)
    TransactionLog.objects.create(
        lead=callback.lead,
        kind=LogKind.CALLBACK,
        is_test=callback.lead.is_test,
        method="POST",
        url=url[:500],
        request_headers={k: v for k, v in request.headers.items()},
        request_body=body.decode(),
        status_code=response.status,
        response_body=response.body.decode("utf-8", "replace")[:20000],
        outcome=outcome,
        error=reason[:300],
        duration_ms=round(response.elapsed_ms),
        attempt=callback.attempts,
    )
    if outcome == Outcome.ACCEPTED:
        callback.close(DeliveryStatus.ACCEPTED, outcome, "")
    elif retryable and callback.attempts < callback.max_attempts:
        retry_at = timezone.now() + timedelta(seconds=_backoff(callback.attempts))
        callback.close(DeliveryStatus.RETRY, outcome, reason, retry_at)
        schedule_callback(callback.pk, retry_at)
    else:
        callback.close(DeliveryStatus.FAILED, outcome, reason)
    return outcome


def _classify(response: OutboundResponse) -> tuple[str, bool, str]:
    """(outcome class, retryable, reason) for a publisher's answer: any 2xx is a receipt."""
    if response.error == "timeout":
        return Outcome.TIMEOUT, True, "timed out"
    if response.error == "refused":  # an address outbound safety refuses, every time
        return Outcome.TRANSPORT_ERROR, False, response.detail
    if response.error and response.error != "too_large":  # a long receipt is a receipt
        return Outcome.TRANSPORT_ERROR, True, response.detail
    status = response.status or 0
    if 200 <= status < 300:
        return Outcome.ACCEPTED, False, ""
    return Outcome.HTTP_ERROR, status in (408, 429) or status >= 500, f"HTTP {status}"


def _backoff(attempt_number: int) -> float:
    return backoff_seconds(settings.SWITCHYARD["RETRY_BACKOFF_SECONDS"], attempt_number)


def due_callbacks(now: datetime, limit: int = 500) -> list[int]:
    """Callbacks the sweeper should (re-)enqueue: due and not just queued, or abandoned
    by a sender that died (recovered first: sent again, or failed on its last attempt)."""
    fresh = now - timedelta(seconds=10)
    stale = PublisherCallback.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=now - STALE_CLAIM
    )
    recovered = list(stale.filter(attempts__lt=F("max_attempts")).values_list("pk", flat=True))
    recover_interrupted(stale, now)
    due = PublisherCallback.objects.filter(
        status__in=OPEN, next_attempt_at__lte=now, updated_at__lt=fresh
    ).values_list("pk", flat=True)[:limit]
    return recovered[:limit] + [pk for pk in due if pk not in recovered][: limit - len(recovered)]
