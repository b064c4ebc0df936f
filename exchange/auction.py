"""The auction: who may bid, the parallel fan-out, and the ranking.

Pure work over the compiled configuration: no per-campaign queries. Caps and
circuits are each read for all campaigns at once; the caller writes the results.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from buyers.bids import checked_bid
from buyers.calls import PreparedCall, log_row, prepare_call, read_response, simulated_answer
from buyers.caps import CapSpec, reached
from buyers.choices import Outcome, PricingModel
from buyers.circuits import open_endpoints
from buyers.compiled import CampaignInfo
from buyers.filters import DEFERRED
from buyers.response_rules import Answer
from buyers.schedule import describe_closed
from buyers.throttle import take as take_throttle_slots
from buyers.transport import Fanout, OutboundResponse, fan_out

from . import consent
from .choices import Routing
from .config_cache import PublisherInfo, VerticalInfo
from .quality import expected_value
from .quality_signals import Signals, with_signals
from .quality_signals import deferred as deferred_signals

ACCEPTING = frozenset({Outcome.ACCEPTED, Outcome.SIMULATED})


@dataclass(slots=True)
class BidResult:
    """One campaign's answer to the ping, ranked or not."""

    campaign: CampaignInfo
    answer: Answer
    latency_ms: float = 0.0
    price: Decimal | None = None
    payout: Decimal | None = None
    rank: int | None = None
    note: str = ""
    call: tuple[PreparedCall, OutboundResponse | None] | None = None  # None: no HTTP call

    @property
    def reference(self) -> str:
        return self.answer.reference

    def log_fields(self) -> dict[str, Any] | None:
        """The call's transaction-log fields (masked), built when they are written: after
        the answer, not on the ping's clock."""
        if self.call is None:
            return None
        prepared, response = self.call
        return log_row(
            prepared, response, self.answer, pii=[], kind="ping", campaign_id=self.campaign.id
        )


@dataclass(slots=True)
class AuctionResult:
    bids: list[BidResult] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # phase -> ms, for Server-Timing

    @property
    def ranked(self) -> list[BidResult]:
        return sorted((b for b in self.bids if b.rank), key=lambda b: b.rank or 0)

    @property
    def best(self) -> BidResult | None:
        ranked = self.ranked
        return ranked[0] if ranked else None


@dataclass(slots=True)
class LeadContext:
    """What the auction knows about the lead being sold."""

    lead_id: str
    vertical: VerticalInfo
    publisher: PublisherInfo
    sub_id: str
    values: Mapping[str, Any]
    is_test: bool
    now: datetime
    excluded_buyers: Mapping[int, str] = field(default_factory=dict)  # buyer id -> reason
    excluded_campaigns: Mapping[int, str] = field(default_factory=dict)  # campaign id -> reason
    # A ping: post-stage fields are not known yet, and rules on them wait for the post.
    at_ping: bool = False


def _deferred_fields(vertical: VerticalInfo) -> dict[str, Any]:
    return {name: DEFERRED for name, spec in vertical.schema.items() if spec.stage == "post"}


def eligible_campaigns(ctx: LeadContext, trace: list[dict[str, Any]]) -> list[CampaignInfo]:
    """The campaigns that may bid, recording for every other one why not."""
    candidates: list[CampaignInfo] = []
    values: Mapping[str, Any] = {
        **ctx.values, "publisher": ctx.publisher.slug, "sub_id": ctx.sub_id
    }  # fmt: skip
    signals = None
    if ctx.at_ping:
        values = {**_deferred_fields(ctx.vertical), **deferred_signals(), **values}
    else:
        signals = Signals(values, lead_id=ctx.lead_id, is_test=ctx.is_test, now=ctx.now)
        signals.record()
        values = with_signals(values, signals)
    for campaign in ctx.vertical.campaigns:
        reason = _static_exclusion(campaign, values, ctx)
        if reason:
            trace.append(_trace(campaign, False, reason))
        else:
            candidates.append(campaign)
    if signals is not None and (entry := signals.trace_entry("auction")):
        trace.append(entry)
    if not ctx.is_test and candidates:
        full = reached([cap for c in candidates for cap in c.caps], ctx.now)
        blocked = open_endpoints([c.ping.id for c in candidates if c.ping])
        kept = []
        for campaign in candidates:
            hit = [cap for cap in campaign.caps if cap.cap_id in full]
            if hit:
                trace.append(_trace(campaign, False, f"cap reached: {_describe_cap(hit[0])}"))
            elif campaign.ping and campaign.ping.id in blocked:
                trace.append(_trace(campaign, False, "circuit open on the ping endpoint"))
            else:
                kept.append(campaign)
        candidates = _throttled_out(kept, trace)
    return candidates


def _throttled_out(
    candidates: list[CampaignInfo], trace: list[dict[str, Any]]
) -> list[CampaignInfo]:
    """Candidates that get one of their throttle's ping slots; the others are traced
    ``throttled``. Only the last step of eligibility: a skipped campaign takes no slot."""
    throttled = take_throttle_slots((c.id, c.throttle) for c in candidates if c.throttle)
    if not throttled:
        return candidates
    for campaign in candidates:
        if campaign.id in throttled:
            trace.append(
                {**_trace(campaign, False, "throttled"), "throttle": str(campaign.throttle)}
            )
    return [c for c in candidates if c.id not in throttled]


def _static_exclusion(campaign: CampaignInfo, values: Mapping[str, Any], ctx: LeadContext) -> str:
    if not campaign.live:
        return campaign.not_live_reason
    if campaign.buyer_id in ctx.excluded_buyers:
        return ctx.excluded_buyers[campaign.buyer_id]
    if campaign.id in ctx.excluded_campaigns:
        return ctx.excluded_campaigns[campaign.id]
    if campaign.post is None:
        return "no post endpoint"
    if campaign.ping is None and campaign.pricing_model != PricingModel.FIXED:
        return "dynamic pricing needs a ping endpoint"
    failed = campaign.check_filters(values)
    if failed:
        return f"filter: {failed}"
    if not campaign.is_open(ctx.now):
        return describe_closed(campaign.schedule, campaign.buyer_tz, ctx.now)
    return consent.static_problem(campaign, values)


def _describe_cap(cap: CapSpec) -> str:
    limit = f"{cap.max_leads} leads" if cap.max_leads is not None else f"{cap.max_spend} spend"
    return f"{limit} per {cap.period}"


def _trace(campaign: CampaignInfo, pinged: bool, reason: str = "") -> dict[str, Any]:
    return {
        "campaign_id": campaign.id,
        "campaign": campaign.slug,
        "buyer": campaign.buyer_name,
        "pinged": pinged,
        "reason": reason,
    }


def ping_values(ctx: LeadContext) -> dict[str, Any]:
    """What a ping mapping may read: ping-stage fields and the special sources."""
    schema = ctx.vertical.schema
    values = {k: v for k, v in ctx.values.items() if k in schema and schema[k].stage == "ping"}
    values.update(
        {
            "lead.id": ctx.lead_id,
            "publisher.id": str(ctx.publisher.id),
            "sub_id": ctx.sub_id,
            "lead.created_at": ctx.now.isoformat(),
        }
    )
    return values


@dataclass(slots=True)
class Auction:
    """An auction whose pings are out: ``rank()`` reads the bids as they stand.

    Campaigns that bid without HTTP (a fixed price without a ping endpoint, a test
    key's simulated answer) are known from the start; a pinged campaign's bid is its
    answer if it is in, else a timeout. Each ``rank()`` builds a fresh result, so one
    taken before the deadline can be compared with, or replaced by, a later one.
    """

    ctx: LeadContext
    trace: list[dict[str, Any]]
    timings: dict[str, float]
    known: list[tuple[CampaignInfo, Answer, str]] = field(default_factory=list)
    calls: list[tuple[CampaignInfo, PreparedCall]] = field(default_factory=list)
    fanout: Fanout | None = None  # the calls that have a request to send
    reasons: list[str] = field(default_factory=list)

    def rank(self, counted: frozenset[int] | None = None) -> AuctionResult:
        """Rank the bids as they stand now, or as of ``counted``: a ``Fanout.counted()``."""
        result = AuctionResult(
            trace=self.trace, reasons=list(self.reasons), timings=dict(self.timings)
        )
        result.bids = [BidResult(c, answer, note=note) for c, answer, note in self.known]
        answers = iter(self.fanout.answers(counted) if self.fanout else ())
        for campaign, prepared in self.calls:
            if prepared.request is None:
                answer, response = Answer.transport_error(prepared.error), None
            else:
                response = next(answers)
                answer = checked_bid(read_response(prepared.endpoint, response), campaign)
            latency = response.elapsed_ms if response else 0
            result.bids.append(BidResult(campaign, answer, latency, call=(prepared, response)))
        if self.known or self.calls:
            _price_and_rank(result, self.ctx)
        return result


def start_auction(ctx: LeadContext) -> Auction:
    """Find the eligible campaigns and ping them all at once; returns while they answer."""
    started = time.perf_counter()
    trace: list[dict[str, Any]] = []
    campaigns = eligible_campaigns(ctx, trace)
    auction = Auction(ctx, trace, {"eligibility": (time.perf_counter() - started) * 1000})
    if not campaigns:
        auction.reasons.append("no_eligible_buyers")
        return auction

    values = ping_values(ctx)
    for campaign in campaigns:
        if campaign.ping is None:
            # Fixed price without a ping endpoint: the bid is the price, no HTTP.
            answer = Answer(Outcome.ACCEPTED, price=campaign.fixed_price, reference="")
            auction.known.append((campaign, answer, "fixed price, not pinged"))
        elif ctx.is_test and not campaign.ping.test_url:
            auction.known.append((campaign, simulated_answer(campaign), "simulated"))
        else:
            auction.calls.append((campaign, prepare_call(campaign.ping, values, test=ctx.is_test)))
        pinged = campaign.ping is not None
        trace.append(_trace(campaign, pinged, "" if pinged else "fixed price, bids unpinged"))

    requests = [p.request for _, p in auction.calls if p.request is not None]
    if requests:
        auction.fanout = fan_out(requests)
    return auction


def run_auction(ctx: LeadContext) -> AuctionResult:
    """Ping every eligible campaign in parallel, wait for them all, rank the bids."""
    return run_auction_to_end(start_auction(ctx))


def run_auction_to_end(auction: Auction) -> AuctionResult:
    """Wait until every call is in or the deadline has come; rank the bids."""
    if not (auction.known or auction.calls):
        return auction.rank()
    fanout_started = time.perf_counter()
    if auction.fanout is not None:
        fanout_started = auction.fanout.started
        auction.fanout.wait()
    ranking_started = time.perf_counter()
    auction.timings["fanout"] = (ranking_started - fanout_started) * 1000
    result = auction.rank()
    result.timings["ranking"] = (time.perf_counter() - ranking_started) * 1000
    return result


def _price_and_rank(result: AuctionResult, ctx: LeadContext) -> None:
    publisher = ctx.publisher
    live: list[BidResult] = []
    below_floor = 0
    for bid in result.bids:
        if bid.answer.outcome not in ACCEPTING:
            bid.note = bid.note or bid.answer.reason or bid.answer.outcome
            continue
        campaign = bid.campaign
        if campaign.pricing_model == PricingModel.FIXED:
            price, applied = campaign.price_for(ctx.values)
            if applied:
                bid.note = f"fixed {campaign.fixed_price:.2f}, modified: {'; '.join(applied)}"
        else:
            price = bid.answer.price
        if price is None or price <= 0:
            bid.note = "no price in the answer"
            continue
        if campaign.pricing_model == PricingModel.DYNAMIC and price < campaign.min_bid:
            bid.note = f"below the campaign minimum bid {campaign.min_bid}"
            continue
        bid.price = price
        bid.payout = publisher.payout_for(price)
        if bid.payout < publisher.floor or bid.payout <= 0:
            bid.note = "below the publisher floor"
            below_floor += 1
            continue
        live.append(bid)

    live = _remnant_market(live)
    if ctx.vertical.routing == Routing.PRIORITY:
        key = lambda b: (-b.campaign.priority, -(b.price or 0), b.latency_ms)  # noqa: E731
    elif ctx.vertical.routing == Routing.EXPECTED_REVENUE:
        key = _expected_revenue_key(live, result.trace, ctx.vertical)
    else:
        key = lambda b: (-(b.price or 0), -b.campaign.priority, b.latency_ms)  # noqa: E731
    for rank, bid in enumerate(sorted(live, key=key), start=1):
        bid.rank = rank
    if not live:
        result.reasons.append("below_floor" if below_floor else "no_bids")


def _expected_revenue_key(
    live: list[BidResult], trace: list[dict[str, Any]], vertical: VerticalInfo
) -> Any:
    """Rank by bid × the campaign's quality weight (``exchange.quality``, from the config
    cache); the figures go on each campaign's trace entry. Ties: priority, then speed."""
    entries = {t["campaign_id"]: t for t in trace if "campaign_id" in t}
    worth: dict[int, Any] = {}
    for bid in live:
        quality = vertical.quality_of(bid.campaign.id)
        price = bid.price or Decimal(0)  # a live bid always has its price
        worth[bid.campaign.id] = expected_value(price, quality)
        entry = entries.get(bid.campaign.id)
        if entry is not None:  # re-ranking (a late bid) overwrites the same figures
            entry["ranking"] = quality.trace_fields(price)
    return lambda b: (-worth[b.campaign.id], -b.campaign.priority, b.latency_ms)


def _remnant_market(live: list[BidResult]) -> list[BidResult]:
    """Fallback campaigns take part only when no other bid cleared the floor."""
    regular = [b for b in live if not b.campaign.fallback]
    if not regular:
        return live
    for bid in live:
        if bid.campaign.fallback:
            bid.note = "fallback: a regular bid cleared the floor"
    return regular
