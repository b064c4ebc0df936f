"""Recording a ping: run the auction, store the lead and its bids, answer the offer.

The answer waits only for the lead and its bids; the calls' log rows, the first
timeline event and the circuit breakers' counts follow it through the recorder.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from buyers.circuits import ping_outcomes
from exchange.auction import Auction, AuctionResult, LeadContext, run_auction_to_end, start_auction
from exchange.config_cache import KeyInfo, PublisherInfo, VerticalInfo
from plumbing.logs import bind
from plumbing.rows import PendingInsert, insert_together, insert_with_ids

from . import recorder
from .choices import LeadStatus
from .ledger import money
from .models import Bid, Lead, LeadEvent, TransactionLog


@dataclass(slots=True)
class PingOutcome:
    lead: Lead
    auction: AuctionResult
    timings: dict[str, float] = field(default_factory=dict)
    events: list[LeadEvent] = field(default_factory=list)

    def record_calls(self) -> None:
        """What can wait until the answer is sent: the calls' log rows, the lead's
        first timeline event and the circuit breakers' counts."""
        write_calls(self.lead, self.auction, self.events)


def event_row(lead: Lead, to_status: str, note: str = "", from_status: str = "") -> LeadEvent:
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


def write_auction(lead: Lead, auction: AuctionResult) -> list[Bid]:
    """The lead and its bids, in one transaction: what a post needs to find."""
    bids = _bid_rows(lead, auction, lead.created_at)
    insert_with_ids([lead], bids)  # PostgreSQL: one statement
    return bids


def write_calls(lead: Lead, auction: AuctionResult, events: list[LeadEvent]) -> None:
    """Hand the auction's outbound calls (masked log rows), the timeline events and the
    outcomes the circuit breakers count to the recorder (``leads.recorder``)."""
    logs = []
    for bid in auction.bids:
        fields = bid.log_fields()
        if fields:
            row = TransactionLog(
                lead=lead, is_test=lead.is_test, created_at=lead.created_at, **fields
            )
            # Not a column: the recorder's listeners label calls by buyer without a query.
            row.buyer_slug = bid.campaign.buyer_slug  # type: ignore[attr-defined]
            logs.append(row)
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
    bind(lead_id=ctx.lead_id)
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

    When some buyer has still not answered ``SETTLE_EARLY_MS`` before the deadline of
    the last call still out (each call's own timeout: a hung buyer, the usual cause of
    a ping that lasts its whole timeout), the bids are ranked as they stand and the
    rows written ahead (``plumbing.rows.PendingInsert``: on PostgreSQL in a transaction
    left open, on SQLite committed at once). If nothing more comes in by then, the
    answer waits at most for the commit; if a late buyer does answer in time, the rows
    are taken back and the caller ranks again.
    """
    fanout = auction.fanout
    ahead_s = settings.SWITCHYARD["SETTLE_EARLY_MS"] / 1000
    if fanout is None or ahead_s <= 0 or fanout.wait(ahead_s=ahead_s):
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
    return PingOutcome(lead, auction, timings, [event_row(lead, lead.status, note)])


def ping_answer(outcome: PingOutcome) -> dict[str, Any]:
    lead = outcome.lead
    if lead.status == LeadStatus.PINGED and lead.offer_expires_at is not None:
        return {
            "ping_id": str(lead.id),
            "status": "accepted",
            "price": money(lead.offer_price),
            "expires_at": lead.offer_expires_at.isoformat().replace("+00:00", "Z"),
        }
    return {"ping_id": str(lead.id), "status": "rejected", "reasons": lead.reasons}
