"""Personal-data housekeeping: key rotation, retention purge, deletion requests.

Erasing personal data keeps every money row (ledger, bids, deliveries): only the
encrypted PII and its lookup hashes go, so statements still reconcile.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from buyers.models import Credential
from plumbing.pii import email_hash, normalize_phone, phone_hash

from .models import Lead

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
    return count


def _erase(queryset: object) -> int:
    return queryset.update(  # type: ignore[attr-defined]
        pii={}, phone_hash="", email_hash="", pii_erased_at=timezone.now()
    )


def purge_expired_pii(now: object = None) -> int:
    """Erase personal data of leads older than PII_RETENTION_DAYS."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.PII_RETENTION_DAYS)  # type: ignore[operator]
    return _erase(Lead.objects.filter(created_at__lt=cutoff, pii_erased_at__isnull=True))


def erase_person(*, phone: str = "", email: str = "") -> int:
    """A deletion request: erase every lead of this phone number or email address."""
    match = Q(pk__in=[])
    if phone:
        e164 = normalize_phone(phone) or phone
        match |= Q(phone_hash=phone_hash(e164))
    if email:
        match |= Q(email_hash=email_hash(email))
    return _erase(Lead.objects.filter(match, pii_erased_at__isnull=True))
