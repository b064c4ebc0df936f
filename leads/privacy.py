"""Personal-data housekeeping: key rotation, retention purge, deletion requests.

Erasing personal data keeps every money row (ledger, bids, deliveries' prices): only
the encrypted PII, its lookup hashes and any personal value quoted in a text (a call
log's body, a buyer's reason, consent text) go, so statements still reconcile.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from buyers.models import Credential
from exchange.models import InboundLog
from plumbing.pii import MASK, normalize_phone, pii_values, scrub_text

from .dispositions import forget_old_receipts
from .models import Delivery, Lead, LeadEvent, TransactionLog
from .models_compliance import (
    DeletionRequest,
    DeletionStatus,
    PersonClaim,
    SuppressionSource,
)
from .queue import enqueue_after_commit
from .suppression import Person, person_from, suppress_person

log = logging.getLogger(__name__)

BATCH = 500


def rotate_pii_keys() -> int:
    """Re-encrypt every lead's PII and every credential secret under the newest key in
    PII_KEYS; returns how many values were rewritten. Run after putting a new key
    first in PII_KEYS; the old key can be removed once this has finished."""
    count = 0
    # Reading decrypts with whichever key matches; writing encrypts with the newest.
    for lead in Lead.objects.exclude(pii="").only("id", "pii").iterator(chunk_size=BATCH):
        Lead.objects.filter(pk=lead.pk).update(pii=lead.pii)
        count += 1
    for cred in Credential.objects.exclude(secret="").only("id", "secret").iterator():
        Credential.objects.filter(pk=cred.pk).update(secret=cred.secret)
        count += 1
    for request in DeletionRequest.objects.exclude(person="").only("id", "person").iterator():
        DeletionRequest.objects.filter(pk=request.pk).update(person=request.person)
        count += 1
    return count


# --- retention -----------------------------------------------------------------------------


def _erase(queryset: Any) -> int:
    return queryset.update(pii={}, phone_hash="", email_hash="", pii_erased_at=timezone.now())


def purge_expired_pii(now: datetime | None = None) -> int:
    """Erase personal data of leads older than PII_RETENTION_DAYS."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.PII_RETENTION_DAYS)
    return _erase(Lead.objects.filter(created_at__lt=cutoff, pii_erased_at__isnull=True))


def _delete_older(model: Any, cutoff: datetime) -> int:
    """Delete rows created before ``cutoff`` in batches (short transactions, so the
    exchange's own writes are never held up for long)."""
    total = 0
    while True:
        ids = list(model.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        total += model.objects.filter(pk__in=ids).delete()[0]


def purge_expired_data(now: datetime | None = None) -> dict[str, int]:
    """The daily purge: PII past PII_RETENTION_DAYS, inbound logs past
    INBOUND_LOG_RETENTION_DAYS, transaction logs past TRANSACTION_LOG_RETENTION_DAYS,
    postback receipts no replay can match."""
    now = now or timezone.now()
    days = settings.SWITCHYARD
    return {
        "leads_erased": purge_expired_pii(now),
        "inbound_logs_deleted": _delete_older(
            InboundLog, now - timedelta(days=days["INBOUND_LOG_RETENTION_DAYS"])
        ),
        "transaction_logs_deleted": _delete_older(
            TransactionLog, now - timedelta(days=days["TRANSACTION_LOG_RETENTION_DAYS"])
        ),
        "postback_receipts_deleted": forget_old_receipts(now),
    }


# --- deletion requests -------------------------------------------------------------------------


def file_deletion_request(
    *,
    phone: Any = None,
    email: Any = None,
    source: str,
    requested_by: str = "",
    user: Any = None,
    api_key_id: int | None = None,
) -> DeletionRequest:
    """Record a person's deletion request and queue its processing after commit.

    Raises ``suppression.SuppressionError`` when neither a valid phone nor email is given.
    """
    person = person_from(phone, email)
    values = {}
    if person.phone_hash:
        values["phone"] = normalize_phone(str(phone).strip()) or ""
    if person.email_hash:
        values["email"] = str(email).strip()
    with transaction.atomic():
        encrypted: dict[str, Any] = {"person": values}  # an EncryptedJSONField
        request = DeletionRequest.objects.create(
            **encrypted,
            phone_hash=person.phone_hash,
            email_hash=person.email_hash,
            source=source,
            requested_by=requested_by[:200],
            api_key_id=api_key_id,
            created_by=user if getattr(user, "pk", None) else None,
        )
        enqueue_after_commit(process_deletion_request, str(request.pk))
    return request


def process_deletion(request_id: Any) -> DeletionRequest:
    """Erase the person's PII everywhere, suppress them, stamp the request done.

    Safe to run twice: only a received (or failed) request is taken, by a conditional
    UPDATE, and a done one is returned as it is.
    """
    now = timezone.now()
    taken = DeletionRequest.objects.filter(
        pk=request_id, status__in=(DeletionStatus.RECEIVED, DeletionStatus.FAILED)
    ).update(status=DeletionStatus.PROCESSING, started_at=now, error="")
    request = DeletionRequest.objects.get(pk=request_id)
    if not taken:
        return request
    try:
        with transaction.atomic():
            counts = _erase_person(request)
            suppress_person(
                Person(request.phone_hash, request.email_hash),
                reason="deletion request",
                source=SuppressionSource.DELETION,
                added_by=f"deletion request {request.pk}",
            )
            done: dict[str, Any] = {"person": {}, **counts}
            DeletionRequest.objects.filter(pk=request.pk).update(
                status=DeletionStatus.DONE, done_at=timezone.now(), **done
            )
    except Exception as exc:
        log.exception("deletion request %s failed", request.pk)
        DeletionRequest.objects.filter(pk=request.pk).update(
            status=DeletionStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:300]
        )
        raise
    request.refresh_from_db()
    return request


def _scrub_json(value: Any, secrets: list[str]) -> Any:
    text = json.dumps(value, ensure_ascii=False)
    scrubbed = scrub_text(text, secrets)
    if scrubbed == text:
        return value
    try:
        return json.loads(scrubbed)
    except ValueError:
        return {"erased": MASK}


def _erase_person(request: DeletionRequest) -> dict[str, int]:
    person = Person(request.phone_hash, request.email_hash)
    given = pii_values(request.person)
    counts = {"leads_erased": 0, "deliveries_scrubbed": 0, "logs_scrubbed": 0}
    leads = list(Lead.objects.filter(person.match()).only("id", "pii", "data"))
    for lead in leads:
        secrets = sorted(set(given) | set(pii_values(lead.pii)))
        for call in TransactionLog.objects.filter(lead_id=lead.pk):
            fields = {
                name: scrub_text(getattr(call, name), secrets)
                for name in ("url", "request_body", "response_body", "error")
            }
            TransactionLog.objects.filter(pk=call.pk).update(**fields)
            counts["logs_scrubbed"] += 1
        for row in InboundLog.objects.filter(lead_id=lead.pk).only("id", "body"):
            InboundLog.objects.filter(pk=row.pk).update(body=scrub_text(row.body, secrets))
            counts["logs_scrubbed"] += 1
        for delivery in Delivery.objects.filter(lead_id=lead.pk).only(
            "id", "reason", "buyer_reference"
        ):
            Delivery.objects.filter(pk=delivery.pk).update(
                reason=scrub_text(delivery.reason, secrets),
                buyer_reference=scrub_text(delivery.buyer_reference, secrets),
            )
            counts["deliveries_scrubbed"] += 1
        for event in LeadEvent.objects.filter(lead_id=lead.pk).only("id", "note"):
            LeadEvent.objects.filter(pk=event.pk).update(note=scrub_text(event.note, secrets))
        Lead.objects.filter(pk=lead.pk).update(
            pii={},
            phone_hash="",
            email_hash="",
            pii_erased_at=timezone.now(),
            data=_scrub_json(lead.data, secrets),
        )
        counts["leads_erased"] += 1
    hashes = [h for h in (person.phone_hash, person.email_hash) if h]
    PersonClaim.objects.filter(person_hash__in=hashes).delete()
    return counts


@shared_task(
    name="leads.tasks.process_deletion_request",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def process_deletion_request(request_id: str) -> str:
    """Erase one person's data for their deletion request, and stamp it done."""
    return str(process_deletion(request_id).status)


def erase_person(*, phone: str = "", email: str = "", requested_by: str = "") -> DeletionRequest:
    """File a deletion request and process it at once (the command line's way)."""
    request = file_deletion_request(
        phone=phone or None,
        email=email or None,
        source=SuppressionSource.COMMAND,
        requested_by=requested_by or "manage.py erase_person",
    )
    return process_deletion(request.pk)
