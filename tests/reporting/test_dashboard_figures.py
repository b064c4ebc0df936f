"""After known traffic through the API, every dashboard figure equals the same figure
computed here from the raw rows, by hour and by day, whole or narrowed."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from leads.models import Bid, Delivery, Lead, LedgerEntry, TransactionLog
from reporting.dashboard import Scope, latency_by_buyer, unsold_reasons
from reporting.rollup_models import LATENCY_BOUNDS_MS
from tests.reporting.traffic import build_market, give_back, move_back, send

pytestmark = pytest.mark.django_db

CENT = D("0.01")
TENTH = D("0.1")


def bucket(at: datetime, by: str) -> str:
    """The row a raw fact falls in: its hour, its day, or "all" (the range's total)."""
    if by == "all":
        return "all"
    at = timezone.localtime(at)
    return at.strftime("%Y-%m-%d") if by == "day" else at.strftime("%m-%d %H:00")


def pct(part: int, whole: int) -> str:
    return "" if not whole else str((D(part) * 100 / D(whole)).quantize(TENTH))


def money(value: D) -> str:
    return str(value.quantize(CENT))


def raw_figures(by: str, campaign_ids: set[int] | None = None, publisher: int | None = None):
    """The dashboard's columns per bucket, from raw rows, computed in Python."""
    leads = {
        str(lead.pk): lead
        for lead in Lead.objects.filter(is_test=False)
        if publisher is None or lead.publisher_id == publisher
    }
    f: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(lambda: D(0)))

    def mine(campaign_id: int | None) -> bool:
        return campaign_ids is None or campaign_id in campaign_ids

    bids = [b for b in Bid.objects.all() if str(b.lead_id) in leads and mine(b.campaign_id)]
    if campaign_ids is None:
        for lead in leads.values():
            f[bucket(lead.created_at, by)]["pings"] += 1
            if lead.posted_at:
                f[bucket(lead.posted_at, by)]["posts"] += 1
    else:
        for b in bids:
            f[bucket(b.created_at, by)]["pings"] += 1
    for b in bids:
        if b.rank is not None:
            f[bucket(b.created_at, by)]["bids"] += 1
            f[bucket(b.created_at, by)]["bid_total"] += b.price
        if b.rank == 1:
            f[bucket(b.created_at, by)]["won"] += 1
    for d in Delivery.objects.filter(status__in=("accepted", "rejected", "failed")):
        if str(d.lead_id) in leads and mine(d.campaign_id):
            f[bucket(d.updated_at, by)]["delivered"] += 1
            f[bucket(d.updated_at, by)]["accepted"] += d.status == "accepted"
            if campaign_ids is not None:
                f[bucket(d.updated_at, by)]["posts"] += 1
    for e in LedgerEntry.objects.all():
        if str(e.lead_id) in leads and mine(e.campaign_id):
            row = f[bucket(e.created_at, by)]
            row["sold"] += e.kind == "sale"
            row["returns"] += e.kind == "return"
            row["revenue"] += e.charge
            row["payout"] += e.payout
    out = {}
    for label, r in f.items():
        out[label] = {
            "pings": str(int(r["pings"])),
            "posts": str(int(r["posts"])),
            "bids": str(int(r["bids"])),
            "offer_rate_pct": pct(r["won"], r["pings"]),
            "win_rate_pct": pct(r["won"], r["bids"]),
            "acceptance_pct": pct(r["accepted"], r["delivered"]),
            "sold": str(int(r["sold"])),
            "average_bid": money(r["bid_total"] / r["bids"]) if r["bids"] else "",
            "revenue": money(r["revenue"]),
            "revenue_per_lead": money(r["revenue"] / r["sold"]) if r["sold"] else "",
            "payout": money(r["payout"]),
            "margin": money(r["revenue"] - r["payout"]),
            "returns": str(int(r["returns"])),
        }
    return out


def shown(client: Any, **query: Any) -> dict[str, dict[str, str]]:
    """The dashboard's CSV, as {bucket: {column: value}} without empty buckets."""
    answer = client.get("/reports/", {**query, "format": "csv"})
    assert answer.status_code == 200, answer.content[:300]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    total = rows.pop()
    assert total["bucket"] == "total"
    found = {}
    for r in rows:
        label = r.pop("bucket")
        if any(r[k] not in ("0", "0.00", "") for k in r):
            found[label] = r
    found["total"] = {k: v for k, v in total.items() if k != "bucket"}
    return found


def with_total(raw: dict[str, dict[str, str]], whole: dict[str, str]) -> dict[str, dict[str, str]]:
    return {**raw, "total": whole}


@pytest.fixture
def traffic(api: Any, buyer_server: Any) -> Any:
    market = build_market(buyer_server)
    mix = [
        ("acme", "good", "post"),
        ("acme", "excellent", "post"),
        ("acme", "poor", "ping"),
        ("zeta", "good", "direct"),
        ("zeta", "excellent", "direct"),
        ("acme", "fair", "ping"),
    ]
    earlier = send(api, market, mix * 2, start=1)
    move_back(list(Lead.objects.values_list("pk", flat=True)), timedelta(days=1, hours=3))
    give_back(api, market, earlier, 2)
    send(api, market, mix, start=100)
    later_sold = send(api, market, [("zeta", "good", "direct"), ("acme", "poor", "direct")], 200)
    give_back(api, market, later_sold, 1)
    today = timezone.localdate()
    call_command(
        "rebuild_rollups",
        "--from",
        str(today - timedelta(days=2)),
        "--to",
        str(today),
        stdout=io.StringIO(),
    )
    return market


@pytest.fixture
def staff(client: Any) -> Any:
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-12345")
    client.force_login(user)
    return client


def _range() -> dict[str, str]:
    today = timezone.localdate()
    return {"start": str(today - timedelta(days=2)), "end": str(today)}


def raw_figures_for_range(**kw: Any) -> dict[str, str]:
    """The whole range's figures from raw rows: the dashboard's total row."""
    return raw_figures("all", **kw)["all"]


@pytest.mark.parametrize("by", ["hour", "day"])
def test_every_dashboard_figure_equals_the_raw_rows(traffic: Any, staff: Any, by: str) -> None:
    raw = raw_figures(by)
    assert len(raw) >= 2  # the traffic spans two hours and two days
    assert shown(staff, by=by, **_range()) == with_total(raw, raw_figures_for_range())


@pytest.mark.parametrize("by", ["hour", "day"])
def test_narrowed_to_a_buyer_or_a_publisher_the_figures_still_equal_the_raw_rows(
    traffic: Any, staff: Any, by: str
) -> None:
    summit = traffic.campaigns["summit-tx"]
    raw = raw_figures(by, campaign_ids={summit.pk})
    narrowed = shown(staff, by=by, buyer=summit.buyer_id, **_range())
    assert narrowed == with_total(raw, raw_figures_for_range(campaign_ids={summit.pk}))
    zeta = Lead.objects.filter(publisher__slug="zeta").values_list("publisher_id", flat=True)[0]
    raw = raw_figures(by, publisher=zeta)
    assert shown(staff, by=by, publisher=zeta, **_range()) == with_total(
        raw, raw_figures_for_range(publisher=zeta)
    )


def test_the_traffic_covers_what_the_figures_must_tell_apart(traffic: Any, staff: Any) -> None:
    whole = shown(staff, by="day", **_range())["total"]
    # Sales, returns, a rejecting buyer and unsold pings are all there to be counted.
    assert int(whole["sold"]) >= 6 and int(whole["returns"]) == 3
    assert whole["acceptance_pct"] not in ("", "100.0")
    assert whole["offer_rate_pct"] not in ("", "100.0")


def raw_percentile(durations: list[int], q: float) -> int | None:
    if not durations:
        return None
    value = sorted(durations)[max(1, math.ceil(q * len(durations))) - 1]
    return next((b for b in LATENCY_BOUNDS_MS if value <= b), -1)


def test_latency_and_error_rates_per_buyer_equal_the_call_log(traffic: Any) -> None:
    start = timezone.now() - timedelta(days=3)
    scope = Scope(
        start=start.replace(minute=0, second=0, microsecond=0),
        end=timezone.now() + timedelta(hours=1),
    )
    calls: dict[str, list[TransactionLog]] = defaultdict(list)
    for row in TransactionLog.objects.filter(kind="ping", is_test=False).select_related(
        "campaign__buyer"
    ):
        calls[row.campaign.buyer.name].append(row)
    shown_buyers = {b.name: b for b in latency_by_buyer(scope)}
    assert set(shown_buyers) == set(calls) == {"Summit", "Bolt Buyer", "Crash Buyer"}
    for name, rows in calls.items():
        b = shown_buyers[name]
        durations = [r.duration_ms for r in rows if r.outcome != "timeout"]
        assert b.calls == len(rows)
        assert b.p50 == raw_percentile(durations, 0.5)
        assert b.p95 == raw_percentile(durations, 0.95)
        http_errors = sum(r.outcome == "http_error" for r in rows)
        assert b.rate("http_error") == (D(http_errors) * 100 / len(rows)).quantize(TENTH)
    assert shown_buyers["Crash Buyer"].rate("http_error") == D("100.0")


def test_unsold_reasons_equal_the_leads_and_deliveries(traffic: Any) -> None:
    scope = Scope(start=timezone.now() - timedelta(days=3), end=timezone.now() + timedelta(hours=1))
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for lead in Lead.objects.filter(status="no_sale", is_test=False):
        for reason in lead.reasons:
            expected[("ping", reason)] += 1
    for d in Delivery.objects.filter(status__in=("rejected", "failed")):
        expected[("post", d.reason or d.status)] += 1
    assert {(s, r): n for s, r, n in unsold_reasons(scope)} == dict(expected)
    assert expected[("post", "duplicate")] >= 1
