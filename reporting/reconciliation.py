"""A month's reconciliation: every party's charges, payouts and margin, the totals
checked against the ledger, and the exceptions finance must look at.

Each figure is one grouped SQL aggregate over the month's ledger rows; the exception
checks are anti-joins on indexed columns, so the page stays fast on a million leads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Sum

from buyers.choices import CapPeriod
from buyers.models import Buyer, CapCounter
from exchange.models import Publisher
from leads.choices import LeadStatus, LedgerKind
from leads.ledger import amount, entries
from leads.models import Lead, LedgerEntry, Return
from leads.periods import is_closed, month_bounds, next_month
from plumbing.money import money_text

# How many of each kind of exception the page lists (the count is always complete).
EXCEPTION_LIMIT = 50

# What each finding code means, for the page (the codes stay in the CSV and the command).
FINDING_LABELS = {
    "sold_without_sale_entry": "Sold lead with no sale in the ledger",
    "sale_entry_without_sold_lead": "Sale in the ledger for a lead not sold live",
    "return_without_reversal": "Return with no reversing ledger entry",
    "reversal_without_sale": "Return entry that reverses no sale",
    "counter_disagrees_with_sales": "Monthly cap counter differs from the ledger's sales",
}
SOLD = (LeadStatus.SOLD, LeadStatus.RETURNED)


@dataclass(frozen=True, slots=True)
class PartyLine:
    """One buyer's or publisher's month: its own column, and the margin on its rows."""

    party: str
    slug: str
    name: str
    sales: int
    charges: Decimal
    payouts: Decimal
    margin: Decimal


@dataclass(frozen=True, slots=True)
class Check:
    label: str
    expected: Decimal
    actual: Decimal

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the books do not explain: ``code`` is stable, ``detail`` for people."""

    code: str
    subject: str
    detail: str

    @property
    def label(self) -> str:
        return FINDING_LABELS.get(self.code, self.code)


@dataclass
class Reconciliation:
    month: date
    start: datetime
    end: datetime
    closed: bool
    buyers: list[PartyLine]
    publishers: list[PartyLine]
    ledger: dict[str, Decimal]
    checks: list[Check]
    findings: list[Finding] = field(default_factory=list)
    finding_counts: dict[str, int] = field(default_factory=dict)

    @property
    def exception_rows(self) -> list[tuple[str, str, int]]:
        """(code, label for people, count) per kind of finding, in the checks' order."""
        return [
            (code, FINDING_LABELS.get(code, code), count)
            for code, count in self.finding_counts.items()
        ]

    @property
    def balanced(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def clean(self) -> bool:
        return self.balanced and not any(self.finding_counts.values())


def reconcile(month: date) -> Reconciliation:
    """The reconciliation of ``month`` (a month in the exchange's timezone)."""
    month = month.replace(day=1)
    start, end = month_bounds(month)
    # One scan of the month: sums per (buyer, publisher) pair, a few hundred groups at
    # most, folded here into each party's line and the ledger's totals.
    pairs = list(
        entries(start=start, end=end)
        .values("buyer_id", "publisher_id")
        .annotate(
            sales=Count("id", filter=Q(kind=LedgerKind.SALE)),
            charges=Sum("charge"),
            payouts=Sum("payout"),
            margin=Sum("margin"),
        )
        .order_by()
    )
    buyers = _party_lines("buyer", pairs, Buyer)
    publishers = _party_lines("publisher", pairs, Publisher)
    ledger = {
        name: amount(sum((row[column] or 0 for row in pairs), Decimal(0)))
        for name, column in (("charge", "charges"), ("payout", "payouts"), ("margin", "margin"))
    }
    checks = [
        Check(
            "Buyers' charges = ledger charges",
            ledger["charge"],
            amount(sum((p.charges for p in buyers), Decimal(0))),
        ),
        Check(
            "Publishers' payouts = ledger payouts",
            ledger["payout"],
            amount(sum((p.payouts for p in publishers), Decimal(0))),
        ),
        Check(
            "Ledger margin = charges − payouts",
            ledger["charge"] - ledger["payout"],
            ledger["margin"],
        ),
    ]
    result = Reconciliation(month, start, end, is_closed(month), buyers, publishers, ledger, checks)
    _find_exceptions(result)
    return result


def _party_lines(party: str, pairs: list[dict[str, Any]], model: Any) -> list[PartyLine]:
    totals: dict[int, dict[str, Any]] = {}
    for row in pairs:
        pk = row[f"{party}_id"]
        if pk is None:
            continue
        line = totals.setdefault(pk, {"sales": 0, "charges": 0, "payouts": 0, "margin": 0})
        for key in line:
            line[key] += row[key] or 0
    owners = model.objects.in_bulk(list(totals))
    out = [
        PartyLine(
            party=party,
            slug=owners[pk].slug,
            name=owners[pk].name,
            sales=row["sales"],
            charges=amount(row["charges"]),
            payouts=amount(row["payouts"]),
            margin=amount(row["margin"]),
        )
        for pk, row in totals.items()
    ]
    return sorted(out, key=lambda line: line.name.lower())


def _find_exceptions(result: Reconciliation) -> None:
    start, end = result.start, result.end
    windows = _suspect_days(start, end)
    if windows:
        sold_in = Q()
        booked_in = Q()
        for low, high in windows:
            sold_in |= Q(sold_at__gte=low, sold_at__lt=high)
            booked_in |= Q(created_at__gte=low, created_at__lt=high)
        sale_rows = LedgerEntry.objects.filter(kind=LedgerKind.SALE, lead_id=OuterRef("pk"))
        unbooked = (
            Lead.objects.filter(sold_in, is_test=False, status__in=SOLD)
            .filter(~Exists(sale_rows))
            .order_by("sold_at")
        )
        unsold = (
            LedgerEntry.objects.filter(booked_in, kind=LedgerKind.SALE)
            .filter(Q(lead=None) | Q(lead__is_test=True) | ~Q(lead__status__in=SOLD))
            .order_by("created_at")
        )
    else:
        unbooked, unsold = Lead.objects.none(), LedgerEntry.objects.none()
    _add(
        result,
        "sold_without_sale_entry",
        unbooked,
        lambda lead: (
            str(lead.pk),
            f"sold {lead.sold_at:%Y-%m-%d %H:%M} for {money_text(lead.price)}, "
            "no sale in the ledger",
        ),
    )
    _add(
        result,
        "sale_entry_without_sold_lead",
        unsold,
        lambda row: (
            f"entry {row.pk}",
            f"sale of {money_text(row.charge)} on {row.created_at:%Y-%m-%d} "
            "for a lead not sold live",
        ),
    )
    reversals = LedgerEntry.objects.filter(kind=LedgerKind.RETURN, lead_id=OuterRef("lead_id"))
    unreversed = (
        Return.objects.filter(created_at__gte=start, created_at__lt=end)
        .filter(~Exists(reversals))
        .order_by("created_at")
    )
    _add(
        result,
        "return_without_reversal",
        unreversed,
        lambda record: (
            str(record.lead_id),
            f"returned {record.created_at:%Y-%m-%d} ({record.reason}), sale not reversed",
        ),
    )
    orphans = LedgerEntry.objects.filter(
        kind=LedgerKind.RETURN, created_at__gte=start, created_at__lt=end, reverses=None
    ).order_by("created_at")
    _add(
        result,
        "reversal_without_sale",
        orphans,
        lambda row: (
            f"entry {row.pk}",
            f"return of {money_text(row.charge)} on {row.created_at:%Y-%m-%d} reverses no sale",
        ),
    )
    findings = _counter_findings(start, end)
    result.finding_counts["counter_disagrees_with_sales"] = len(findings)
    result.findings += findings[:EXCEPTION_LIMIT]


def _suspect_days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The stretches of ``[start, end)`` whose sold live leads and sale rows may differ.

    On PostgreSQL each side is first summed over the month in one pass: the count and a
    sum of hashes of the lead ids. When both agree the two sides hold the same leads
    (short of a 64-bit hash sum colliding) and the exact anti-joins are skipped, which
    keeps the page fast over a million leads. When they differ, the same sums per
    24-hour stretch from ``start`` narrow the exact checks to the stretches that
    differ. A sale booked after its lead's sale time (a closed month's) makes both
    stretches suspect, and the exact check then clears them. Elsewhere (SQLite,
    development sizes) the whole month is checked exactly.
    """
    if connection.vendor != "postgresql":
        return [(start, end)]
    leads = (
        "SELECT {bucket}, count(*), sum(uuid_hash(id)) FROM leads_lead"
        " WHERE sold_at >= %(start)s AND sold_at < %(end)s AND sold_at IS NOT NULL"
        " AND NOT is_test AND status IN ('sold', 'returned') {group}"
    )
    sales = (
        "SELECT {bucket}, count(*), sum(uuid_hash(lead_id)) FROM leads_ledgerentry"
        " WHERE kind = 'sale' AND created_at >= %(start)s AND created_at < %(end)s {group}"
    )
    params = {"start": start, "end": end}
    with connection.cursor() as cursor:

        def sums(sql: str, column: str, by_day: bool) -> dict[int, tuple[int, int]]:
            bucket = (
                f"floor(extract(epoch FROM {column} - %(start)s) / 86400)::int" if by_day else "0"
            )
            cursor.execute(sql.format(bucket=bucket, group="GROUP BY 1" if by_day else ""), params)
            return {key: (count, digest) for key, count, digest in cursor.fetchall() if count}

        if sums(leads, "sold_at", False) == sums(sales, "created_at", False):
            return []
        by_lead, by_sale = sums(leads, "sold_at", True), sums(sales, "created_at", True)
    days = sorted(k for k in by_lead.keys() | by_sale.keys() if by_lead.get(k) != by_sale.get(k))
    return [(start + timedelta(days=k), min(start + timedelta(days=k + 1), end)) for k in days]


def _add(result: Reconciliation, code: str, queryset: object, describe: object) -> None:
    listed = list(queryset[:EXCEPTION_LIMIT])  # type: ignore[index]
    count = len(listed)
    if count == EXCEPTION_LIMIT:
        count = queryset.count()  # type: ignore[attr-defined]
    result.finding_counts[code] = count
    result.findings += [Finding(code, *describe(item)) for item in listed]  # type: ignore[operator]


def _counter_findings(start: datetime, end: datetime) -> list[Finding]:
    """Monthly cap counters whose window starts in the month and whose lead count is
    not the number of sales the ledger holds for the cap's campaign (or buyer) in that
    window. One query per monthly cap window: a handful per month."""
    counters = CapCounter.objects.filter(
        cap__period=CapPeriod.MONTH,
        window_start__gte=start - timedelta(days=1),
        window_start__lt=end - timedelta(days=1),
    ).select_related("cap__campaign__buyer", "cap__buyer")
    found = []
    for counter in counters:
        cap = counter.cap
        owner = cap.buyer if cap.buyer_id else cap.campaign.buyer  # type: ignore[union-attr]
        if owner is None:
            continue
        buyer: Buyer = owner
        local = counter.window_start.astimezone(ZoneInfo(buyer.timezone))
        window_end = datetime.combine(
            next_month(local.date().replace(day=1)), datetime.min.time(), tzinfo=local.tzinfo
        )
        sales = LedgerEntry.objects.filter(
            kind=LedgerKind.SALE, created_at__gte=counter.window_start, created_at__lt=window_end
        )
        sales = sales.filter(buyer=buyer) if cap.buyer_id else sales.filter(campaign=cap.campaign)
        booked = sales.count()
        if booked != counter.leads:
            owner = buyer.slug if cap.buyer_id else cap.campaign.slug  # type: ignore[union-attr]
            found.append(
                Finding(
                    "counter_disagrees_with_sales",
                    f"cap {cap.pk} ({owner})",
                    f"monthly counter says {counter.leads} leads, the ledger {booked} sales",
                )
            )
    return found
