"""Dispositions: a buyer reports what became of a lead it bought.

Two ways in, one service: ``POST /api/v1/buyer/dispositions`` with the buyer's key, and
a campaign's signed postback URL (``/api/v1/postback/<campaign>``) for CRMs that can
only call a URL. A postback is signed with the campaign's own secret: ``sig`` is the hex
HMAC-SHA256 of the other parameters sorted by name and URL-encoded
(``canonical_query``); ``ts`` (Unix seconds) must be within
``POSTBACK_MAX_AGE_SECONDS`` of now, and each signature is accepted once (a
``PostbackReceipt`` row, unique), so a captured URL cannot be replayed.

A disposition is stored once per (lead, event), appended to the lead's trace, and, if
the lead's publisher asked for them, owed to its signed callback (the outbox).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from buyers.models import Campaign
from exchange.models import Publisher

from .callbacks import owe_callback
from .choices import LeadStatus
from .ledger import money
from .models import Disposition, Lead, PostbackReceipt, PostbackSecret

SIGNATURE_PARAM = "sig"


class DispositionRefused(Exception):
    """A disposition the exchange refuses: an HTTP status, a stable code, a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class Report:
    """A checked disposition, as either way in gives it."""

    lead_id: uuid.UUID
    event: str
    at: datetime
    value: Decimal | None


def record_disposition(report: Report, *, buyer_id: int, source: str) -> tuple[Disposition, bool]:
    """Store ``report`` for a lead ``buyer_id`` bought; (the row, whether it is new).

    A repeat of an event already stored answers the stored row and changes nothing.
    Raises ``DispositionRefused`` (404) when the lead does not exist or was not sold to
    this buyer: a buyer learns nothing about other buyers' leads.
    """
    with transaction.atomic():
        # The lead's row serializes reports of one lead: its trace is rewritten whole.
        lead, campaign = _bought_by(
            Lead.objects.select_for_update().filter(pk=report.lead_id).first(), buyer_id
        )
        existing = Disposition.objects.filter(lead=lead, event=report.event).first()
        if existing is not None:
            return existing, False
        disposition = Disposition.objects.create(
            lead=lead,
            campaign=campaign,
            buyer_id=buyer_id,
            event=report.event,
            at=report.at,
            value=report.value,
            source=source,
        )
        entry: dict[str, Any] = {
            "disposition": report.event,
            "campaign_id": campaign.pk,
            "campaign": campaign.slug,
            "buyer": campaign.buyer.name,
            "at": _iso(report.at),
            "via": source,
        }
        if report.value is not None:
            entry["value"] = money(report.value)
        Lead.objects.filter(pk=lead.pk).update(trace=[*(lead.trace or []), entry])
        _forward(lead, disposition)
    return disposition, True


def _bought_by(lead: Lead | None, buyer_id: int) -> tuple[Lead, Campaign]:
    """The lead and the campaign that bought it, if ``buyer_id`` did; else a 404."""
    if lead is not None and lead.status in (LeadStatus.SOLD, LeadStatus.RETURNED):
        campaign = lead.sold_campaign
        if campaign is not None and campaign.buyer_id == buyer_id:
            return lead, campaign
    raise DispositionRefused(404, "not_found", "No lead with this id was sold to you.")


def _forward(lead: Lead, disposition: Disposition) -> None:
    """Owe the publisher the disposition when it asked for them (inside the transaction)."""
    wanted = Publisher.objects.filter(
        pk=lead.publisher_id, forward_dispositions=True, callback_url__gt=""
    ).exists()
    if not wanted:
        return
    payload: dict[str, Any] = {
        "event": "lead.disposition",
        "lead_id": str(lead.id),
        "disposition": disposition.event,
        "at": _iso(disposition.at),
        "test": lead.is_test,
    }
    if disposition.value is not None:
        payload["value"] = money(disposition.value)
    owe_callback(lead, payload, disposition=disposition)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# --- signed postbacks -------------------------------------------------------------------


def postback_secret(campaign: Campaign) -> str:
    """The campaign's postback secret, made the first time it is asked for."""
    row, _ = PostbackSecret.objects.get_or_create(campaign=campaign)
    return row.secret


def rotate_postback_secret(campaign: Campaign) -> str:
    """A new secret: postbacks signed with the old one are refused from now on."""
    row, created = PostbackSecret.objects.get_or_create(campaign=campaign)
    if not created:
        row.secret = PostbackSecret._meta.get_field("secret").get_default()
        row.rotated_at = timezone.now()
        row.save(update_fields=["secret", "rotated_at"])
    return row.secret


def canonical_query(params: dict[str, str]) -> str:
    """What is signed: every parameter but ``sig``, sorted by name, URL-encoded (RFC 3986:
    a space is ``%20``), joined with ``&``."""
    items = sorted((k, v) for k, v in params.items() if k != SIGNATURE_PARAM)
    return urlencode(items, quote_via=quote, safe="")


def sign_postback(secret: str, params: dict[str, str]) -> str:
    return hmac.new(secret.encode(), canonical_query(params).encode(), hashlib.sha256).hexdigest()


def check_postback(campaign_slug: str, params: dict[str, str], now: datetime) -> Campaign:
    """The campaign whose secret signed ``params`` freshly; raises ``DispositionRefused``.

    Does not consume the signature: ``accept_postback`` does, with the disposition.
    """
    campaign = Campaign.objects.select_related("buyer").filter(slug=campaign_slug).first()
    if campaign is None:
        raise DispositionRefused(404, "not_found", "No campaign has this postback URL.")
    signature = params.get(SIGNATURE_PARAM, "").lower()
    secret = PostbackSecret.objects.filter(campaign=campaign).values_list("secret", flat=True)
    known = secret.first()
    expected = sign_postback(known, params) if known else ""
    if not known or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise DispositionRefused(
            401, "bad_signature", "The signature does not match this campaign's postback secret."
        )
    try:
        sent = int(params.get("ts", ""))
    except ValueError:
        raise DispositionRefused(
            401, "bad_signature", "ts must be the Unix time of signing, in seconds."
        ) from None
    max_age = settings.POSTBACK_MAX_AGE_SECONDS
    if abs(now.timestamp() - sent) > max_age:
        raise DispositionRefused(
            401,
            "signature_expired",
            f"This postback was signed more than {max_age} s from now; sign it again.",
        )
    return campaign


def accept_postback(
    campaign: Campaign, params: dict[str, str], report: Report
) -> tuple[Disposition, bool]:
    """Record a checked postback once: a signature seen before is a replay (409)."""
    try:
        with transaction.atomic():
            PostbackReceipt.objects.create(
                campaign=campaign, signature=params[SIGNATURE_PARAM].lower()
            )
            return record_disposition(report, buyer_id=campaign.buyer_id, source="postback")
    except IntegrityError:
        if PostbackReceipt.objects.filter(
            campaign=campaign, signature=params[SIGNATURE_PARAM].lower()
        ).exists():
            raise DispositionRefused(
                409, "replayed", "This signed postback was already received."
            ) from None
        raise


def forget_old_receipts(now: datetime) -> int:
    """Receipts no replay can match any more: a postback this old is refused by its
    ``ts`` (signed within POSTBACK_MAX_AGE_SECONDS of its arrival, refused beyond it)."""
    cutoff = now - 2 * timedelta(seconds=settings.POSTBACK_MAX_AGE_SECONDS)
    return PostbackReceipt.objects.filter(received_at__lt=cutoff).delete()[0]
