"""Posting a lead: after a ping (``post_lead``) or without one (``direct_post``).

The post is screened (suppression, duplicates), claimed out of ``pinged`` and handed to
the waterfall of deliveries (``leads.delivery``). Views call these verbs; each runs its
writes in transactions and leaves network calls and enqueueing until after commit.
A ping is recorded by ``leads.pings``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from exchange.auction import AuctionResult, LeadContext, run_auction
from exchange.config_cache import Config, KeyInfo, PublisherInfo, VerticalInfo
from plumbing.pii import email_hash, phone_hash, split_pii

from .choices import LeadStatus
from .delivery import answer_for, start_deliveries
from .models import Lead, LeadEvent
from .pings import event_row, write_auction, write_calls
from .screening import duplicate_buyers, is_global_duplicate, is_suppressed

log = logging.getLogger(__name__)


class LeadError(Exception):
    """A request the exchange refuses: an HTTP status, a stable code and a message."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def _lead_pii_columns(full: dict[str, Any]) -> dict[str, Any]:
    data, pii = split_pii(full)
    return {
        "data": data,
        "pii": pii,
        "phone_hash": phone_hash(pii.get("phone", "")),
        "email_hash": email_hash(pii.get("email", "")),
    }


def screen_lead(
    vertical: VerticalInfo, columns: dict[str, Any], now: datetime
) -> tuple[str, dict[int, str]]:
    """(a reason to refuse the whole lead, or "", buyers to skip with their reason).

    Suppression and global duplicates refuse the lead; a buyer that already bought
    this person within its campaign's window is skipped.
    """
    hashes = [h for h in (columns["phone_hash"], columns["email_hash"]) if h]
    if not hashes:
        return "", {}
    if is_suppressed(columns["phone_hash"], columns["email_hash"]):
        return "suppressed", {}
    if is_global_duplicate(columns["phone_hash"], columns["email_hash"], now, vertical.id):
        return "duplicate", {}
    windows = {c.buyer_id: c.dedupe_days for c in vertical.campaigns if c.dedupe_days}
    skipped = duplicate_buyers(columns["phone_hash"], columns["email_hash"], windows, now)
    return "", {b: "duplicate for this buyer" for b in skipped}


def _refusal(lead: Lead, reason: str) -> dict[str, Any]:
    return {"lead_id": str(lead.id), "status": "rejected", "reasons": [reason]}


def post_lead(
    *,
    config: Config,
    publisher: PublisherInfo,
    key: KeyInfo,
    lead: Lead,
    values: dict[str, Any],
    mode: str,
) -> tuple[int, dict[str, Any]]:
    """Post the full lead for an accepted ping: (HTTP status, answer)."""
    if lead.result is not None:
        return 200, lead.result
    if lead.status == LeadStatus.NO_SALE:
        raise LeadError(409, "ping_rejected", "This ping was not accepted; nothing to post.")
    if lead.status != LeadStatus.PINGED:
        raise LeadError(409, "post_in_progress", "This lead is being posted; retry shortly.")
    now = timezone.now()
    if lead.offer_expires_at and now > lead.offer_expires_at:
        raise LeadError(410, "ping_expired", "The offer for this ping has expired; ping again.")
    changed = [k for k, v in lead.data.items() if k in values and values[k] != v]
    if changed:
        raise LeadError(
            422,
            "lead_differs_from_ping",
            "Fields sent in the ping must not change in the post.",
            {f"lead.{k}": ["differs from the value sent in the ping"] for k in changed},
        )
    full = {**lead.data, **values}
    columns = _lead_pii_columns(full)
    vertical = next(v for v in config.verticals.values() if v.id == lead.vertical_id)
    refusal, skip_buyers = screen_lead(vertical, columns, now)

    # The conditional UPDATE is the claim: of two identical posts only one moves the
    # lead out of 'pinged'; the other replays or waits.
    claimed = Lead.objects.filter(pk=lead.pk, status=LeadStatus.PINGED).update(
        status=LeadStatus.POSTING, posted_at=now, updated_at=now, **columns
    )
    if not claimed:
        lead.refresh_from_db()
        if lead.result is not None:
            return 200, lead.result
        raise LeadError(409, "post_in_progress", "This lead is being posted; retry shortly.")
    lead.refresh_from_db()
    if refusal:
        return 200, finish_without_sale(lead, refusal)
    ranked = list(lead.bids.filter(rank__isnull=False).order_by("rank"))
    start_deliveries(lead, [(b.campaign_id, b.price, b) for b in ranked], skip_buyers, config)
    return 200, answer_for(lead, mode=mode, config=config)


def finish_without_sale(lead: Lead, reason: str) -> dict[str, Any]:
    answer = _refusal(lead, reason)
    with transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(
            status=LeadStatus.REJECTED, reasons=[reason], result=answer
        )
        LeadEvent.objects.create(
            lead=lead, from_status=lead.status, to_status=LeadStatus.REJECTED, note=reason
        )
    lead.status = LeadStatus.REJECTED
    return answer


def direct_post(
    *,
    config: Config,
    vertical: VerticalInfo,
    publisher: PublisherInfo,
    key: KeyInfo,
    sub_id: str,
    values: dict[str, Any],
    mode: str,
    idempotency_key: str | None,
) -> tuple[int, dict[str, Any]]:
    """A full lead without a prior ping: screen, run the auction, post down the ranks."""
    if idempotency_key:
        previous = Lead.objects.filter(
            publisher_id=publisher.id, idempotency_key=idempotency_key
        ).first()
        if previous is not None:
            if previous.result is not None:
                return 200, previous.result
            raise LeadError(409, "post_in_progress", "This lead is being posted; retry shortly.")
    now = timezone.now()
    columns = _lead_pii_columns(values)
    refusal, skip_buyers = screen_lead(vertical, columns, now)
    lead_id = uuid.uuid4()
    ctx = LeadContext(
        str(lead_id), vertical, publisher, sub_id, values, key.is_test, now, skip_buyers
    )
    auction = AuctionResult() if refusal else run_auction(ctx)
    reasons = [refusal] if refusal else auction.reasons
    lead = Lead(
        id=lead_id,
        vertical_id=vertical.id,
        publisher_id=publisher.id,
        api_key_id=key.id,
        sub_id=sub_id,
        is_test=key.is_test,
        status=LeadStatus.POSTING,
        reasons=reasons,
        trace=auction.trace,
        idempotency_key=idempotency_key,
        created_at=now,
        posted_at=now,
        **columns,
    )
    try:
        bids = write_auction(lead, auction)
    except IntegrityError as exc:
        # Two requests with one Idempotency-Key raced; the other one owns the lead.
        raise LeadError(
            409, "post_in_progress", "This lead is being posted; retry shortly."
        ) from exc
    write_calls(lead, auction, [event_row(lead, LeadStatus.POSTING, "direct post")])
    if not auction.best:
        return 200, finish_without_sale(lead, reasons[0] if reasons else "no_bids")
    ranked = sorted((b for b in bids if b.rank), key=lambda b: b.rank)
    start_deliveries(lead, [(b.campaign_id, b.price, b) for b in ranked], {}, config)
    return 200, answer_for(lead, mode=mode, config=config)
