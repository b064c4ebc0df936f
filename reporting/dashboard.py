"""The operations dashboard's figures (``/reports/``), read from the hourly rollups.

Every figure is a sum over ``TrafficHour`` / ``CallHour`` / ``ReasonHour`` rows of the
range (a month is at most 744 hours × publishers × campaigns: a few thousand rows,
never a scan of leads), plus the live state of the outbox and the circuits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Min, QuerySet, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from buyers.choices import CircuitStatus, Outcome
from buyers.models import Campaign, CircuitState
from leads.choices import DeliveryStatus
from leads.models import Delivery, PublisherCallback

from .rollup_models import BUCKET_FIELDS, LATENCY_BOUNDS_MS, CallHour, ReasonHour, TrafficHour

CENT = Decimal("0.01")
OPEN_DELIVERY = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRY)
ERROR_CLASSES = (
    Outcome.TIMEOUT,
    Outcome.TRANSPORT_ERROR,
    Outcome.HTTP_ERROR,
    Outcome.BAD_RESPONSE,
)
SUMMED = (
    "pings",
    "posts",
    "asked",
    "bids",
    "bid_total",
    "won",
    "delivered",
    "accepted",
    "sold",
    "revenue",
    "payout",
    "returns",
    "refunded",
    "payout_reversed",
    "remnant_sold",
    "remnant_revenue",
)


@dataclass(frozen=True, slots=True)
class Scope:
    """What the dashboard shows: ``[start, end)`` by hour or day, maybe narrowed."""

    start: datetime
    end: datetime
    by: str = "hour"  # or "day"
    vertical: int | None = None
    publisher: int | None = None
    buyer: int | None = None
    campaign: int | None = None

    @property
    def per_campaign(self) -> bool:
        """Narrowed to a buyer or campaign: volume is what it was offered."""
        return bool(self.buyer or self.campaign)

    def narrow(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        qs = qs.filter(hour__gte=self.start, hour__lt=self.end)
        for name in ("vertical", "publisher", "buyer", "campaign"):
            value = getattr(self, name)
            if value:
                qs = qs.filter(**{f"{name}_id": value})
        return qs


def ratio(part: Any, whole: Any) -> Decimal | None:
    """A percentage to one decimal, or None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def per(amount: Any, count: Any) -> Decimal | None:
    if not count:
        return None
    return (Decimal(amount) / Decimal(count)).quantize(CENT)


@dataclass(slots=True)
class Figures:
    """The figures of one bucket (or of the whole range)."""

    label: str = ""
    at: datetime | None = None
    pings: int = 0
    posts: int = 0
    bids: int = 0
    bid_total: Decimal = Decimal("0")
    won: int = 0
    delivered: int = 0
    accepted: int = 0
    sold: int = 0
    revenue: Decimal = Decimal("0")
    payout: Decimal = Decimal("0")
    returns: int = 0
    refunded: Decimal = Decimal("0")
    payout_reversed: Decimal = Decimal("0")
    remnant_sold: int = 0
    remnant_revenue: Decimal = Decimal("0")

    @classmethod
    def from_sums(cls, sums: dict[str, Any], per_campaign: bool, **kw: Any) -> Figures:
        f = cls(**kw)
        for name in SUMMED:
            if name in ("pings", "asked", "posts", "delivered"):
                continue
            value = sums.get(name) or 0
            money = isinstance(getattr(f, name), Decimal)
            setattr(f, name, Decimal(value) if money else int(value))
        # A buyer's volume is what it was offered; the exchange's is what came in.
        f.pings = (sums.get("asked") if per_campaign else sums.get("pings")) or 0
        f.posts = (sums.get("delivered") if per_campaign else sums.get("posts")) or 0
        f.delivered = sums.get("delivered") or 0
        return f

    @property
    def offer_rate(self) -> Decimal | None:
        """Pings that got a bid (the exchange) / that this buyer bid on (narrowed)."""
        return ratio(self.won, self.pings)

    @property
    def win_rate(self) -> Decimal | None:
        """Bids that ranked first among the bids that ranked."""
        return ratio(self.won, self.bids)

    @property
    def acceptance(self) -> Decimal | None:
        """Posts the buyers accepted among the posts they answered."""
        return ratio(self.accepted, self.delivered)

    @property
    def sell_through(self) -> Decimal | None:
        return ratio(self.sold, self.pings)

    @property
    def average_bid(self) -> Decimal | None:
        return per(self.bid_total, self.bids)

    @property
    def net_revenue(self) -> Decimal:
        return (self.revenue - self.refunded).quantize(CENT)

    @property
    def revenue_per_lead(self) -> Decimal | None:
        """Net revenue per sold lead."""
        return per(self.revenue - self.refunded, self.sold)

    @property
    def net_payout(self) -> Decimal:
        return (self.payout - self.payout_reversed).quantize(CENT)

    @property
    def margin(self) -> Decimal:
        return (self.revenue - self.refunded - (self.payout - self.payout_reversed)).quantize(CENT)

    @property
    def return_rate(self) -> Decimal | None:
        return ratio(self.returns, self.sold)


def _sums() -> dict[str, Sum]:
    return {name: Sum(name) for name in SUMMED}


def series(scope: Scope) -> tuple[Figures, list[Figures]]:
    """(the range's totals, one ``Figures`` per hour or day, empty ones included)."""
    rows = scope.narrow(TrafficHour.objects.all())
    if scope.by == "day":
        grouped = rows.annotate(b=TruncDay("hour")).values("b").annotate(**_sums()).order_by("b")
    else:
        grouped = rows.values(b=F("hour")).annotate(**_sums()).order_by("b")
    found = {r["b"]: r for r in grouped}
    buckets = []
    for at in bucket_starts(scope):
        label = at.strftime("%Y-%m-%d") if scope.by == "day" else at.strftime("%m-%d %H:00")
        buckets.append(Figures.from_sums(found.get(at, {}), scope.per_campaign, label=label, at=at))
    total = Figures.from_sums(rows.aggregate(**_sums()), scope.per_campaign, label="total")
    return total, buckets


def bucket_starts(scope: Scope) -> list[datetime]:
    step = timedelta(days=1) if scope.by == "day" else timedelta(hours=1)
    at = timezone.localtime(scope.start)
    at = at.replace(hour=0, minute=0, second=0, microsecond=0) if scope.by == "day" else at
    out = []
    while at < scope.end:
        out.append(at)
        at = timezone.localtime(at + step)
    return out


# --- latency and errors -----------------------------------------------------------------


def percentile_bound(counts: list[int], q: float) -> int | None:
    """The upper bound (ms) of the histogram bucket holding the ``q`` quantile, or None
    (no calls); ``-1`` stands for the open bucket above the last bound."""
    total = sum(counts)
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bound, n in zip((*LATENCY_BOUNDS_MS, -1), counts, strict=True):
        seen += n
        if seen >= rank:
            return bound
    return -1


@dataclass(slots=True)
class BuyerLatency:
    buyer_id: int
    name: str
    calls: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(BUCKET_FIELDS))
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def all_timed_out(self) -> bool:
        """Every call timed out: no latency to show, only the timeouts."""
        return self.calls > 0 and self.outcomes.get(Outcome.TIMEOUT, 0) == self.calls

    @property
    def p50(self) -> int | None:
        return percentile_bound(self.histogram, 0.50)

    @property
    def p95(self) -> int | None:
        return percentile_bound(self.histogram, 0.95)

    def rate(self, outcome: str) -> Decimal | None:
        return ratio(self.outcomes.get(outcome, 0), self.calls)

    @property
    def error_rates(self) -> list[tuple[str, Decimal | None]]:
        return [(o.label, self.rate(o)) for o in ERROR_CLASSES]


def latency_by_buyer(scope: Scope, kind: str = "ping") -> list[BuyerLatency]:
    """Per buyer: calls of ``kind``, the latency histogram of those that were answered
    (a timed-out call has no latency of its own) and outcome classes."""
    rows = (
        scope.narrow(CallHour.objects.filter(kind=kind))
        .values("buyer_id", "buyer__name", "outcome")
        .annotate(calls=Sum("calls"), **{name: Sum(name) for name in BUCKET_FIELDS})
        .order_by("buyer__name")
    )
    buyers: dict[int, BuyerLatency] = {}
    for r in rows:
        b = buyers.setdefault(r["buyer_id"], BuyerLatency(r["buyer_id"], r["buyer__name"]))
        b.calls += r["calls"]
        b.outcomes[r["outcome"]] = b.outcomes.get(r["outcome"], 0) + r["calls"]
        if r["outcome"] == Outcome.TIMEOUT:
            continue  # its "latency" is the timeout it was cut at: counted as a timeout only
        for i, name in enumerate(BUCKET_FIELDS):
            b.histogram[i] += r[name] or 0
    return sorted(buyers.values(), key=lambda b: b.name)


def error_series(scope: Scope, kind: str = "ping") -> dict[str, list[Decimal | None]]:
    """Per outcome class, its share of ``kind`` calls in each bucket (percent)."""
    rows = scope.narrow(CallHour.objects.filter(kind=kind))
    if scope.by == "day":
        rows = rows.annotate(b=TruncDay("hour")).values("b", "outcome")
    else:
        rows = rows.values("outcome", b=F("hour"))
    calls: dict[datetime, int] = defaultdict(int)
    by_class: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows.annotate(n=Sum("calls")).order_by():
        calls[r["b"]] += r["n"]
        by_class[r["outcome"]][r["b"]] += r["n"]
    starts = bucket_starts(scope)
    return {
        str(o.label): [ratio(by_class[o][at], calls[at]) for at in starts] for o in ERROR_CLASSES
    }


def unsold_reasons(scope: Scope) -> list[tuple[str, str, int]]:
    """(stage, reason, leads) for the range, most frequent first."""
    rows = scope.narrow(ReasonHour.objects.all())
    if scope.per_campaign:
        rows = rows.filter(stage="post")
    return [
        (r["stage"], r["reason"], r["n"])
        for r in rows.values("stage", "reason")
        .annotate(n=Sum("count"))
        .order_by("-n", "reason")[:20]
    ]


# --- live state ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Live:
    outbox_depth: int
    callbacks_pending: int
    oldest_pending: datetime | None
    open_circuits: list[CircuitState]
    paused_campaigns: list[Campaign]


def live_state(scope: Scope) -> Live:
    """The outbox, open circuits and paused campaigns as they are now."""
    deliveries = Delivery.objects.filter(status__in=OPEN_DELIVERY)
    circuits = CircuitState.objects.exclude(status=CircuitStatus.CLOSED).select_related(
        "endpoint__campaign__buyer"
    )
    paused = Campaign.objects.exclude(paused_reason="").select_related("buyer", "vertical")
    if scope.campaign:
        deliveries = deliveries.filter(campaign_id=scope.campaign)
        circuits = circuits.filter(endpoint__campaign_id=scope.campaign)
        paused = paused.filter(pk=scope.campaign)
    if scope.buyer:
        deliveries = deliveries.filter(campaign__buyer_id=scope.buyer)
        circuits = circuits.filter(endpoint__campaign__buyer_id=scope.buyer)
        paused = paused.filter(buyer_id=scope.buyer)
    if scope.vertical:
        circuits = circuits.filter(endpoint__campaign__vertical_id=scope.vertical)
        paused = paused.filter(vertical_id=scope.vertical)
    outbox = deliveries.aggregate(n=Count("id"), oldest=Min("created_at"))
    callbacks = PublisherCallback.objects.filter(status__in=OPEN_DELIVERY)
    if scope.publisher:
        callbacks = callbacks.filter(publisher_id=scope.publisher)
    return Live(
        outbox_depth=outbox["n"],
        callbacks_pending=callbacks.count(),
        oldest_pending=outbox["oldest"],
        open_circuits=list(circuits.order_by("-opened_at")[:50]),
        paused_campaigns=list(paused.order_by("-paused_at")[:50]),
    )


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """``[first 00:00, last+1 00:00)`` in the current time zone."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return start, end


__all__ = [
    "BuyerLatency",
    "Figures",
    "Live",
    "Scope",
    "day_range",
    "error_series",
    "latency_by_buyer",
    "live_state",
    "percentile_bound",
    "series",
    "unsold_reasons",
]
