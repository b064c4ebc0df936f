"""Every state change of a lead: recording a ping, posting, selling.

Views and tasks call these verbs; each runs its writes in one transaction and
leaves network calls and enqueueing outside it.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from exchange.auction import (
    Auction,
    AuctionResult,
    LeadContext,
    run_auction,
    run_auction_to_end,
    start_auction,
)
from exchange.config_cache import Config, KeyInfo, PublisherInfo, VerticalInfo
from plumbing.rows import PendingInsert, insert_together

from .choices import DeliveryStatus, LeadStatus
from .models import Bid, Delivery, Lead, LeadEvent, TransactionLog
from .pii import email_hash, phone_hash, split_pii

log = logging.getLogger(__name__)

TWO_PLACES = Decimal("0.01")


class LeadError(Exception):
    """A request the exchange refuses: an HTTP status, a stable code and a message."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


@dataclass(slots=True)
class PingOutcome:
    lead: Lead
    auction: AuctionResult
    timings: dict[str, float] = field(default_factory=dict)
    events: list[LeadEvent] = field(default_factory=list)

    def record_calls(self) -> None:
        """What can wait until the answer is sent: the calls' log rows, the lead's
        first timeline event and the circuit breakers' counts."""
        _write_calls(self.lead, self.auction, self.events)


def money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(TWO_PLACES))


def _event(lead: Lead, to_status: str, note: str = "", from_status: str = "") -> LeadEvent:
    return LeadEvent(lead=lead, from_status=from_status, to_status=to_status, note=note[:200])


def _bid_rows(lead: Lead, auction: AuctionResult, now: datetime) -> list[Bid]:
    rows = []
    for bid in auction.bids:
        rows.append(
            Bid(
                lead=lead,
                campaign_id=bid.campaign.id,
                outcome=bid.answer.outcome,
                price=bid.price if bid.price is not None else bid.answer.price,
                reference=bid.reference[:200],
                rank=bid.rank,
                latency_ms=round(bid.latency_ms),
                reason=bid.note[:200],
                created_at=now,
                expires_at=now + timedelta(seconds=lead_ttl(lead)),
            )
        )
    return rows


def lead_ttl(lead: Lead) -> int:
    if lead.offer_expires_at:
        return max(0, int((lead.offer_expires_at - lead.created_at).total_seconds()))
    return 0


def _write_auction(lead: Lead, auction: AuctionResult) -> list[Bid]:
    """The lead and its bids, in one transaction: what a post needs to find."""
    with transaction.atomic():
        lead.save(force_insert=True)
        return Bid.objects.bulk_create(_bid_rows(lead, auction, lead.created_at))


def _write_calls(lead: Lead, auction: AuctionResult, events: list[LeadEvent]) -> None:
    """Hand the auction's outbound calls (masked log rows), the timeline events and the
    outcomes the circuit breakers count to the recorder (``leads.recorder``)."""
    from buyers.circuits import ping_outcomes

    from . import recorder

    logs = [
        TransactionLog(lead=lead, is_test=lead.is_test, created_at=lead.created_at, **fields)
        for fields in (b.log_fields() for b in auction.bids)
        if fields
    ]
    recorder.record(logs, events, [] if lead.is_test else ping_outcomes(auction.bids))


def record_ping(
    *,
    vertical: VerticalInfo,
    publisher: PublisherInfo,
    key: KeyInfo,
    sub_id: str,
    values: dict[str, Any],
) -> PingOutcome:
    """Run the auction for a ping and store the lead and its bids.

    The answer waits for the lead and its bids, written after the bids are in, or,
    when a buyer is still out near the deadline, ahead of it (``_settle_ahead``).
    Unless ``PING_DURABLE_COMMIT`` is on, the commit does not wait for the disk: a
    ping moves no money, and only a database crash in the next instant could lose it.

    The caller answers the publisher, then calls ``record_calls()`` on the outcome.
    """
    now = timezone.now()
    ctx = LeadContext(
        str(uuid.uuid4()), vertical, publisher, sub_id, values, key.is_test, now, at_ping=True
    )
    auction = start_auction(ctx)
    durable = settings.SWITCHYARD["PING_DURABLE_COMMIT"]
    settled = _settle_ahead(auction, key, durable)
    if settled is not None:
        return settled
    result = run_auction_to_end(auction)
    lead = _ping_lead(ctx, key, result)
    write_started = time.perf_counter()
    insert_together([lead], _bid_rows(lead, result, now), durable=durable)
    timings = {**result.timings, "write": (time.perf_counter() - write_started) * 1000}
    return _ping_outcome(lead, result, timings)


def _settle_ahead(auction: Auction, key: KeyInfo, durable: bool) -> PingOutcome | None:
    """The ping's outcome, ranked and written before its deadline; None when there is
    nothing to settle ahead or a late bid changed the auction.

    When some buyer has still not answered ``SETTLE_EARLY_MS`` before the deadline (a
    hung buyer, the usual cause of a ping that lasts its whole timeout), the bids are
    ranked as they stand and the rows written ahead (``plumbing.rows.PendingInsert``:
    on PostgreSQL in a transaction left open, on SQLite committed at once). If nothing
    more comes in by the deadline, the answer waits at most for the commit; if a late
    buyer does answer in time, the rows are taken back and the caller ranks again.
    """
    fanout = auction.fanout
    ahead_s = settings.SWITCHYARD["SETTLE_EARLY_MS"] / 1000
    if fanout is None or ahead_s <= 0 or fanout.wait(fanout.deadline - ahead_s):
        return None
    settling = time.perf_counter()
    counted = fanout.counted()
    result = auction.rank(counted)
    ranked = time.perf_counter()
    lead = _ping_lead(auction.ctx, key, result)
    with PendingInsert([lead], _bid_rows(lead, result, lead.created_at), durable=durable) as rows:
        written = time.perf_counter()
        fanout.wait()
        woke = time.perf_counter()
        if fanout.counted() != counted:
            return None  # leaving the block takes the rows back
        rows.commit()
    # Ranking and the rows written ahead took place inside the fan-out's wait.
    timings = {
        **result.timings,
        "fanout": (woke - fanout.started) * 1000,
        "ranking": (ranked - settling) * 1000,
        "ahead": (written - ranked) * 1000,
        "write": (time.perf_counter() - woke) * 1000,
    }
    return _ping_outcome(lead, result, timings)


def _ping_lead(ctx: LeadContext, key: KeyInfo, auction: AuctionResult) -> Lead:
    best = auction.best
    lead = Lead(
        id=uuid.UUID(ctx.lead_id),
        vertical_id=ctx.vertical.id,
        publisher_id=ctx.publisher.id,
        api_key_id=key.id,
        sub_id=ctx.sub_id,
        is_test=key.is_test,
        status=LeadStatus.PINGED if best else LeadStatus.NO_SALE,
        data=ctx.values,
        reasons=auction.reasons,
        trace=auction.trace,
        created_at=ctx.now,
    )
    if best:
        lead.offer_price = best.payout
        lead.offer_expires_at = ctx.now + timedelta(seconds=ctx.vertical.ping_ttl_seconds)
    return lead


def _ping_outcome(lead: Lead, auction: AuctionResult, timings: dict[str, float]) -> PingOutcome:
    best = auction.best
    note = f"offer {money(best.payout)}" if best else ", ".join(auction.reasons)
    return PingOutcome(lead, auction, timings, [_event(lead, lead.status, note)])


def ping_answer(outcome: PingOutcome) -> dict[str, Any]:
    lead = outcome.lead
    if lead.status == LeadStatus.PINGED:
        return {
            "ping_id": str(lead.id),
            "status": "accepted",
            "price": money(lead.offer_price),
            "expires_at": lead.offer_expires_at.isoformat().replace("+00:00", "Z"),
        }
    return {"ping_id": str(lead.id), "status": "rejected", "reasons": lead.reasons}


# --- posts -----------------------------------------------------------------------------


def _lead_pii_columns(full: dict[str, Any]) -> dict[str, Any]:
    data, pii = split_pii(full)
    return {
        "data": data,
        "pii": pii,
        "phone_hash": phone_hash(pii.get("phone", "")),
        "email_hash": email_hash(pii.get("email", "")),
    }


def screen_lead(
    config: Config, vertical: VerticalInfo, columns: dict[str, Any], now: datetime
) -> tuple[str, dict[int, str]]:
    """(a reason to refuse the whole lead, or "", buyers to skip with their reason).

    Suppression and global duplicates refuse the lead; a buyer that already bought
    this person within its campaign's window is skipped.
    """
    from .screening import duplicate_buyers, is_global_duplicate, is_suppressed

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
    from .delivery import answer_for, start_deliveries

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
    refusal, skip_buyers = screen_lead(config, vertical, columns, now)

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
    from .delivery import answer_for, start_deliveries

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
    refusal, skip_buyers = screen_lead(config, vertical, columns, now)
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
        bids = _write_auction(lead, auction)
    except IntegrityError as exc:
        # Two requests with one Idempotency-Key raced; the other one owns the lead.
        raise LeadError(
            409, "post_in_progress", "This lead is being posted; retry shortly."
        ) from exc
    _write_calls(lead, auction, [_event(lead, LeadStatus.POSTING, "direct post")])
    if not auction.best:
        return 200, finish_without_sale(lead, reasons[0] if reasons else "no_bids")
    ranked = sorted((b for b in bids if b.rank), key=lambda b: b.rank)
    start_deliveries(lead, [(b.campaign_id, b.price, b) for b in ranked], {}, config)
    return 200, answer_for(lead, mode=mode, config=config)


def deliveries_for(lead: Lead) -> list[Delivery]:
    return list(lead.deliveries.order_by("rank"))


__all__ = [
    "DeliveryStatus",
    "LeadError",
    "PingOutcome",
    "direct_post",
    "ping_answer",
    "post_lead",
    "record_ping",
]
