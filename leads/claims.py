"""Duplicates that hold under concurrency: a person is claimed before any buyer gets them.

A person is the keyed hash of a phone number and, separately, of an email address. A
claim is a ``PersonClaim`` row, unique per (scope, hash): inserting it is the claim, so
of any number of leads of one person posted at once, on PostgreSQL or SQLite, exactly
one gets it; the database's unique index decides, not a read followed by a write.

- ``v:<vertical>`` (the global window, ``DUPLICATE_WINDOW_DAYS``): taken at post, before
  the auction of a direct post and before the deliveries of a post after a ping. The
  others answer ``duplicate``. Released (deleted) when the lead ends unsold; when it
  sells, stamped ``sold_at`` and kept until the window has passed.
- ``b:<buyer>`` (each campaign's own ``dedupe_days``): taken just before the post to a
  campaign of that buyer, released if that buyer does not buy, stamped when it does.
  A campaign whose buyer holds the person (in flight, or sold within the campaign's
  window) is skipped with ``duplicate for this buyer``.

A claim that outlived its window, or whose lead is no longer live (a process killed
mid-post, ``STALE_IN_FLIGHT`` after it was taken), is taken over by a conditional
UPDATE, which again only one contender can win. Test leads never claim: they are only
refused when a live lead holds the person.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from .choices import LeadStatus
from .models import Lead, PersonClaim

# A claim in flight whose lead is not live (posting, pending, sold) after this long is
# left over from a process that died mid-post: a direct post's lead row is written after
# its auction, so a fresh claim may not have its lead yet.
STALE_IN_FLIGHT = timedelta(minutes=10)
LeadId = UUID | str
_LIVE = (LeadStatus.POSTING, LeadStatus.PENDING, LeadStatus.SOLD, LeadStatus.RETURNED)


def vertical_scope(vertical_id: int) -> str:
    return f"v:{vertical_id}"


def buyer_scope(buyer_id: int) -> str:
    return f"b:{buyer_id}"


def person_hashes(phone_hash: str, email_hash: str) -> list[str]:
    return sorted(h for h in (phone_hash, email_hash) if h)


def _lapsed(window_days: int, now: datetime) -> Q:
    """A claim another lead may take over: sold before the window, or left in flight."""
    live = Lead.objects.filter(status__in=_LIVE).values("id")
    return Q(sold_at__lt=now - timedelta(days=window_days)) | (
        Q(sold_at__isnull=True, claimed_at__lt=now - STALE_IN_FLIGHT) & ~Q(lead_id__in=live)
    )


def _take(scope: str, person_hash: str, lead_id: LeadId, window_days: int, now: datetime) -> bool:
    try:
        with transaction.atomic():
            PersonClaim.objects.create(
                scope=scope, person_hash=person_hash, lead_id=lead_id, claimed_at=now
            )
        return True
    except IntegrityError:
        pass
    held = PersonClaim.objects.filter(scope=scope, person_hash=person_hash)
    if held.filter(lead_id=lead_id).exists():
        return True  # ours already (a retried post of the same lead)
    # Of several contenders for a lapsed claim, the one whose UPDATE matches wins.
    taken = held.filter(_lapsed(window_days, now)).update(
        lead_id=lead_id, claimed_at=now, sold_at=None
    )
    return taken == 1


def claim(
    scope: str, hashes: Iterable[str], lead_id: LeadId, window_days: int, now: datetime
) -> bool:
    """Claim the person (every hash) for ``lead_id`` in ``scope``; all or nothing."""
    hashes = sorted(hashes)
    if not hashes:
        return True
    try:
        # The usual case, a person nobody holds: every hash in one INSERT.
        with transaction.atomic():
            PersonClaim.objects.bulk_create(
                [
                    PersonClaim(scope=scope, person_hash=h, lead_id=lead_id, claimed_at=now)
                    for h in hashes
                ]
            )
        return True
    except IntegrityError:
        pass  # one of them is held: hash by hash, as below
    taken: list[str] = []
    for person_hash in sorted(hashes):
        if not _take(scope, person_hash, lead_id, window_days, now):
            # Give back what this lead took, so a half-claimed person blocks nobody.
            PersonClaim.objects.filter(
                scope=scope, person_hash__in=taken, lead_id=lead_id, sold_at__isnull=True
            ).delete()
            return False
        taken.append(person_hash)
    return True


def claim_person(lead_id: LeadId, vertical_id: int, hashes: list[str], now: datetime) -> bool:
    """The global claim: one live or sold lead per person and vertical in the window."""
    days = settings.SWITCHYARD["DUPLICATE_WINDOW_DAYS"]
    if not hashes or days <= 0:
        return True
    return claim(vertical_scope(vertical_id), hashes, lead_id, days, now)


def held_by_another(
    scope: str, hashes: list[str], lead_id: LeadId, window_days: int, now: datetime
) -> bool:
    """A read-only check (test leads; the early skip of per-buyer duplicates)."""
    if not hashes:
        return False
    rows = PersonClaim.objects.filter(scope=scope, person_hash__in=hashes).exclude(lead_id=lead_id)
    return rows.exclude(_lapsed(window_days, now)).exists()


def buyers_holding(
    buyer_ids: Iterable[int], hashes: list[str], lead_id: LeadId, now: datetime
) -> dict[int, datetime | None]:
    """Buyers that hold the person through another lead: buyer id -> when that lead
    sold (None: still in flight). One query, for the early skip at post."""
    scopes = {buyer_scope(b): b for b in buyer_ids}
    if not scopes or not hashes:
        return {}
    rows = (
        PersonClaim.objects.filter(scope__in=list(scopes), person_hash__in=hashes)
        .exclude(lead_id=lead_id)
        .values_list("scope", "sold_at")
    )
    held: dict[int, datetime | None] = {}
    for scope, sold_at in rows:
        buyer = scopes[scope]
        previous = held.get(buyer, sold_at)
        held[buyer] = None if previous is None or sold_at is None else max(previous, sold_at)
    return held


def claim_for_buyer(
    lead_id: LeadId, buyer_id: int, hashes: list[str], dedupe_days: int, now: datetime
) -> bool:
    """Before posting to a campaign: the buyer's claim, in the campaign's own window."""
    if not hashes or dedupe_days <= 0:
        return True
    return claim(buyer_scope(buyer_id), hashes, lead_id, dedupe_days, now)


def release(lead_id: LeadId, *, buyer_id: int | None = None) -> int:
    """Give back the lead's claims still in flight (all, or one buyer's)."""
    rows = PersonClaim.objects.filter(lead_id=lead_id, sold_at__isnull=True)
    if buyer_id is not None:
        rows = rows.filter(scope=buyer_scope(buyer_id))
    return rows.delete()[0]


def mark_sold(lead: Lead, buyer_id: int, now: datetime, *, buyer_claimed: bool = False) -> None:
    """The lead sold to ``buyer_id``: its claims stay, stamped, for the windows to run.
    The buyer's claim is recorded even when the campaign itself does not dedupe, so the
    buyer's other campaigns see the sale. ``buyer_claimed``: this lead holds the buyer's
    claim already (``claim_for_buyer``), so stamping the lead's claims covers it."""
    hashes = person_hashes(lead.phone_hash, lead.email_hash)
    if not hashes:
        return
    PersonClaim.objects.filter(lead_id=lead.pk).update(sold_at=now)
    if buyer_claimed:
        return
    scope = buyer_scope(buyer_id)
    for person_hash in hashes:
        updated = PersonClaim.objects.filter(scope=scope, person_hash=person_hash).update(
            lead_id=lead.pk, sold_at=now
        )
        if not updated:
            try:
                with transaction.atomic():
                    PersonClaim.objects.create(
                        scope=scope,
                        person_hash=person_hash,
                        lead_id=lead.pk,
                        claimed_at=now,
                        sold_at=now,
                    )
            except IntegrityError:
                # Claimed meanwhile by another lead in flight: the newest sale wins.
                PersonClaim.objects.filter(scope=scope, person_hash=person_hash).update(
                    lead_id=lead.pk, sold_at=now
                )
