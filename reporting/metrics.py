"""``/metrics``: Prometheus text (SPEC §8), multiprocess-safe.

Counters and histograms are raised where things happen — the recorder's batches for
pings (after the answer, never on its path), saved call logs and lead events for posts
and deliveries — in whatever web or worker process that is. With
``PROMETHEUS_MULTIPROC_DIR`` set (a directory shared by the processes of one host,
emptied at start), ``prometheus_client`` keeps them in files that the scrape adds up;
without it they live in the process (development, tests). Gauges that are facts about
the database — outbox depth, open circuits, paused campaigns, alerts — are read from it
at each scrape, so every process answers the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

from buyers.choices import CircuitStatus
from buyers.models import Campaign, CircuitState
from leads.choices import DeliveryStatus, LeadStatus, LogKind
from leads.models import Delivery, LeadEvent, PublisherCallback, TransactionLog

from .alert_models import Alert
from .rollup_models import LATENCY_BOUNDS_MS

PINGS = Counter("switchyard_pings", "Pings answered, by outcome.", ["outcome"])
POSTS = Counter("switchyard_posts", "Leads' post outcomes, by outcome.", ["outcome"])
CALLS = Counter(
    "switchyard_buyer_calls",
    "Calls to buyers, by buyer, kind and outcome.",
    ["buyer", "kind", "outcome"],
)
LATENCY = Histogram(
    "switchyard_buyer_call_seconds",
    "Time buyers took to answer, by buyer and kind.",
    ["buyer", "kind"],
    buckets=[b / 1000 for b in LATENCY_BOUNDS_MS],
)
ALERTS = Counter("switchyard_alerts_raised", "Alerts raised, by event.", ["event"])

PING_OUTCOME: dict[str, str] = {LeadStatus.PINGED: "accepted", LeadStatus.NO_SALE: "rejected"}
POST_OUTCOME: dict[str, str] = {
    LeadStatus.SOLD: "sold",
    LeadStatus.REJECTED: "rejected",
    LeadStatus.FAILED: "failed",
    LeadStatus.PENDING: "pending",
}
OPEN_DELIVERY = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRY)


def buyer_slugs(campaign_ids: set[int]) -> dict[int, str]:
    """Campaign id → its buyer's slug, in one query (read each time: ids are reused
    after a campaign is deleted, and the counting runs off every answer path)."""
    if not campaign_ids:
        return {}
    return dict(Campaign.objects.filter(pk__in=campaign_ids).values_list("id", "buyer__slug"))


def count_calls(rows: list[TransactionLog]) -> None:
    counted = [
        r
        for r in rows
        if not r.is_test and r.kind in (LogKind.PING, LogKind.POST) and r.campaign_id is not None
    ]
    # Pings' rows carry their buyer (the recorder's thread then makes no query); rows
    # saved one at a time (posts) are looked up.
    unlabelled = {r.campaign_id for r in counted if not getattr(r, "buyer_slug", "")}
    slugs = buyer_slugs({c for c in unlabelled if c is not None})
    for row in counted:
        buyer = getattr(row, "buyer_slug", "") or slugs.get(row.campaign_id or 0, "unknown")
        CALLS.labels(buyer, row.kind, row.outcome).inc()
        LATENCY.labels(buyer, row.kind).observe(row.duration_ms / 1000)


def count_event(event: LeadEvent) -> None:
    if event.lead.is_test:
        return
    if not event.from_status and event.to_status in PING_OUTCOME:
        PINGS.labels(PING_OUTCOME[event.to_status]).inc()
    elif event.from_status and event.to_status in POST_OUTCOME:
        POSTS.labels(POST_OUTCOME[event.to_status]).inc()


def count_batch(batch: Any) -> None:
    """The recorder's listener: a batch of pings' calls and first events, written."""
    count_calls(batch.logs)
    for event in batch.events:
        count_event(event)


def on_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Calls and events saved one at a time (posts, deliveries). Counted as saved: a
    rolled-back save is rare (a lost race), and enqueueing nothing keeps the callers'
    after-commit work their own."""
    if created:
        if sender is TransactionLog:
            count_calls([instance])
        else:
            count_event(instance)


def on_alert(sender: Any, instance: Alert, created: bool, **kwargs: Any) -> None:
    if created:
        ALERTS.labels(instance.event).inc()


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        outbox = Delivery.objects.filter(status__in=OPEN_DELIVERY).aggregate(
            n=Count("id"), oldest=Min("created_at")
        )
        yield GaugeMetricFamily(
            "switchyard_outbox_depth", "Deliveries waiting to be posted.", value=outbox["n"]
        )
        age = (timezone.now() - outbox["oldest"]).total_seconds() if outbox["oldest"] else 0
        yield GaugeMetricFamily(
            "switchyard_outbox_oldest_seconds", "Age of the oldest delivery waiting.", value=age
        )
        yield GaugeMetricFamily(
            "switchyard_callbacks_pending",
            "Publisher callbacks waiting to be sent.",
            value=PublisherCallback.objects.filter(status__in=OPEN_DELIVERY).count(),
        )
        circuits = GaugeMetricFamily(
            "switchyard_circuits_open",
            "Buyer endpoints whose circuit is not closed.",
            labels=["status"],
        )
        found = dict(
            CircuitState.objects.exclude(status=CircuitStatus.CLOSED)
            .values_list("status")
            .annotate(n=Count("id"))
        )
        for status in (CircuitStatus.OPEN, CircuitStatus.HALF_OPEN):
            circuits.add_metric([status], found.get(status, 0))
        yield circuits
        yield GaugeMetricFamily(
            "switchyard_campaigns_paused",
            "Campaigns paused by the exchange.",
            value=Campaign.objects.exclude(paused_reason="").count(),
        )
        yield GaugeMetricFamily(
            "switchyard_alerts_unacknowledged",
            "Alerts nobody has acknowledged yet.",
            value=Alert.objects.filter(acknowledged_at__isnull=True).count(),
        )


def render() -> bytes:
    """The scrape's body: this process's (or every process's) metrics and the gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessMetrics())
    registry.register(DatabaseCollector())
    return generate_latest(registry)


class _ProcessMetrics(Collector):
    """This process's own counters (no multiprocess directory)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()
