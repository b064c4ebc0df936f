"""Posting a lead: after a ping (``post_lead``) or without one (``direct_post``).

The post is screened (suppression, duplicates), claimed out of ``pinged`` and handed to
the waterfall of deliveries (``leads.delivery``). Views call these verbs; each runs its
writes in transactions and leaves network calls and enqueueing until after commit.
A ping is recorded by ``leads.pings``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from exchange.auction import AuctionResult, LeadContext, run_auction
from exchange.config_cache import Config, KeyInfo, PublisherInfo, VerticalInfo
from plumbing.logs import bind
from plumbing.pii import email_hash, phone_hash, split_pii

from . import claims
from .choices import LeadStatus
from .delivery import Held, answer_for, fresh_lease, start_deliveries
from .ledger import ZERO
from .models import Lead
from .pings import event_row, write_auction, write_calls
from .post_checks import DUPLICATE_FOR_BUYER, check_at_post
from .suppression import is_suppressed
from .transitions import move_lead

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


def _hashes(lead_or_columns: Any) -> list[str]:
    if isinstance(lead_or_columns, dict):
        return claims.person_hashes(lead_or_columns["phone_hash"], lead_or_columns["email_hash"])
    return claims.person_hashes(lead_or_columns.phone_hash, lead_or_columns.email_hash)


def screen_lead(
    vertical: VerticalInfo, lead_id: Any, columns: dict[str, Any], is_test: bool, now: datetime
) -> str:
    """A reason to refuse the whole lead ("" if none): the person is suppressed, or
    another lead of theirs holds them in this vertical (``leads.claims``). A live lead
    claims the person here, before any buyer gets it; the caller gives the claim back
    (``finish_without_sale``) if the lead then goes unsold."""
    hashes = _hashes(columns)
    if not hashes:
        return ""
    if is_suppressed(columns["phone_hash"], columns["email_hash"]):
        return "suppressed"
    if is_test:
        window = settings.SWITCHYARD["DUPLICATE_WINDOW_DAYS"]
        scope = claims.vertical_scope(vertical.id)
        held = window > 0 and claims.held_by_another(scope, hashes, lead_id, window, now)
        return "duplicate" if held else ""
    return "" if claims.claim_person(lead_id, vertical.id, hashes, now) else "duplicate"


def _checks_at_post(
    config: Config,
    lead: Lead,
    full: dict[str, Any],
    campaign_ids: list[int],
    now: datetime,
    held: dict[int, datetime | None] | None = None,
) -> dict[int, str]:
    """Run the checks at post; write their trace; the campaigns to skip. ``held``: the
    buyers holding the person, when the caller has just read them."""
    publisher = config.publishers.get(lead.publisher_id)
    checks = check_at_post(
        config,
        lead_id=lead.pk,
        campaign_ids=campaign_ids,
        values=full,
        publisher_slug=publisher.slug if publisher else "",
        sub_id=lead.sub_id,
        hashes=[] if lead.is_test else _hashes(lead),
        is_test=lead.is_test,
        now=now,
        held=held,
    )
    # A direct post's auction already traced the same quality signals: not twice.
    shown = {e.get("reason") for e in lead.trace or [] if e.get("check") == "quality"}
    added = [e for e in checks.trace if e.get("check") != "quality" or e["reason"] not in shown]
    if added:
        lead.trace = [*(lead.trace or []), *added]
        Lead.objects.filter(pk=lead.pk).update(trace=lead.trace)
    return checks.skip


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
    bind(lead_id=lead.id)
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

    # The conditional UPDATE is the claim: of two identical posts only one moves the
    # lead out of 'pinged'; the other replays or waits.
    # A sync post takes the lead's lease with the same write (see ``Held``).
    lease = fresh_lease(config, [c.id for c in vertical.campaigns], now) if mode == "sync" else None
    claimed = move_lead(
        lead,
        LeadStatus.POSTING,
        note="posted",
        at=now,
        posted_at=now,
        lease_until=lease,
        **columns,
    )
    if claimed is None:
        lead.refresh_from_db()
        if lead.result is not None:
            return 200, lead.result
        raise LeadError(409, "post_in_progress", "This lead is being posted; retry shortly.")
    refusal = screen_lead(vertical, lead.pk, columns, lead.is_test, now)
    if refusal:
        return 200, finish_without_sale(lead, refusal)
    ranked = lead.bids.filter(rank__isnull=False, price__isnull=False).order_by("rank")
    offers = [(b.campaign_id, b.price, b) for b in ranked if b.price is not None]
    skip = _checks_at_post(config, lead, full, [c for c, _, _ in offers], now)
    rows = start_deliveries(lead, offers, {}, config, skip, claim_first=lease is not None)
    held = Held(lead, lease, rows) if lease is not None else None
    return 200, answer_for(lead, mode=mode, config=config, held=held)


def finish_without_sale(lead: Lead, reason: str) -> dict[str, Any]:
    answer = _refusal(lead, reason)
    with transaction.atomic():
        move_lead(lead, LeadStatus.REJECTED, note=reason, reasons=[reason], result=answer)
        claims.release(lead.pk)  # unsold: the person is free for the next lead
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
    lead_id = uuid.uuid4()
    bind(lead_id=lead_id)
    # The person is claimed before the auction: no buyer hears of a duplicate.
    refusal = screen_lead(vertical, lead_id, columns, key.is_test, now)
    # (Should this process die before the lead row is written, its claim lapses after
    # claims.STALE_IN_FLIGHT.)
    return _direct_post(
        config, vertical, publisher, key, sub_id, values, mode, idempotency_key,
        lead_id=lead_id, columns=columns, refusal=refusal, now=now,
    )  # fmt: skip


def _direct_post(
    config: Config,
    vertical: VerticalInfo,
    publisher: PublisherInfo,
    key: KeyInfo,
    sub_id: str,
    values: dict[str, Any],
    mode: str,
    idempotency_key: str | None,
    *,
    lead_id: uuid.UUID,
    columns: dict[str, Any],
    refusal: str,
    now: datetime,
) -> tuple[int, dict[str, Any]]:
    holding: dict[int, datetime | None] = {}
    if not refusal and not key.is_test:
        holding = _buyers_holding(vertical, lead_id, _hashes(columns), now)
    ctx = LeadContext(
        str(lead_id), vertical, publisher, sub_id, values, key.is_test, now,
        excluded_campaigns=_held_by_buyers(vertical, holding, now),
    )  # fmt: skip
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
        # A sync post with a buyer to post to holds the lease from the first write.
        lease_until=fresh_lease(config, [c.id for c in vertical.campaigns], now)
        if auction.best and mode == "sync"
        else None,
        **columns,
    )
    try:
        bids = write_auction(lead, auction)
    except IntegrityError as exc:
        # Two requests with one Idempotency-Key raced; the other one owns the lead.
        claims.release(lead_id)
        raise LeadError(
            409, "post_in_progress", "This lead is being posted; retry shortly."
        ) from exc
    write_calls(lead, auction, [event_row(lead, LeadStatus.POSTING, "direct post")])
    if not auction.best:
        return 200, finish_without_sale(lead, reasons[0] if reasons else "no_bids")
    ranked = sorted((b for b in bids if b.rank and b.price is not None), key=lambda b: b.rank or 0)
    skip = _checks_at_post(
        config, lead, values, [b.campaign_id for b in ranked], now, None if key.is_test else holding
    )
    offers = [(b.campaign_id, b.price or ZERO, b) for b in ranked]
    held_lease = lead.lease_until
    rows = start_deliveries(lead, offers, {}, config, skip, claim_first=held_lease is not None)
    held = Held(lead, held_lease, rows) if held_lease is not None else None
    return 200, answer_for(lead, mode=mode, config=config, held=held)


def _buyers_holding(
    vertical: VerticalInfo, lead_id: Any, hashes: list[str], now: datetime
) -> dict[int, datetime | None]:
    """Buyers (of campaigns that dedupe) holding this person through another lead (one
    query); read again by the claim before each post, which makes it exact."""
    buyers = {c.buyer_id for c in vertical.campaigns if c.dedupe_days}
    return claims.buyers_holding(buyers, hashes, lead_id, now)


def _held_by_buyers(
    vertical: VerticalInfo, holding: dict[int, datetime | None], now: datetime
) -> dict[int, str]:
    """Campaigns whose buyer holds this person within the campaign's own window: left
    out of the auction."""
    excluded = {}
    for campaign in vertical.campaigns:
        days = campaign.dedupe_days
        if days and campaign.buyer_id in holding:
            sold_at = holding[campaign.buyer_id]
            if sold_at is None or sold_at >= now - timedelta(days=days):
                excluded[campaign.id] = f"{DUPLICATE_FOR_BUYER} (within {days} days)"
    return excluded
