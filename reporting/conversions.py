"""Conversions: buyers' dispositions rolled up per publisher, sub_id, campaign and buyer.

``conversion_rows`` builds the ``ConversionHour`` rows of a range of hours from the raw
rows (called by ``reporting.rollups`` with the other rollups, so it is recomputed and
rebuilt the same way); ``conversion_table`` reads them for the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour

from leads.choices import DispositionEvent, LedgerKind
from leads.models import Disposition, LedgerEntry

from .rollup_models import ConversionHour

EVENTS = tuple(DispositionEvent.values)  # contacted, quoted, converted, bad


def conversion_rows(start: datetime, end: datetime) -> list[ConversionHour]:
    rows: dict[tuple[Any, ...], ConversionHour] = {}

    def row(r: dict[str, Any]) -> ConversionHour:
        key = (
            r["h"],
            r["lead__vertical_id"],
            r["lead__publisher_id"],
            r["lead__sub_id"],
            r["campaign_id"],
            r["campaign__buyer_id"],
        )
        if key not in rows:
            rows[key] = ConversionHour(
                hour=key[0],
                vertical_id=key[1],
                publisher_id=key[2],
                sub_id=key[3],
                campaign_id=key[4],
                buyer_id=key[5],
            )
        return rows[key]

    group = ("lead__vertical_id", "lead__publisher_id", "lead__sub_id", "campaign_id")
    for r in (
        LedgerEntry.objects.filter(
            kind=LedgerKind.SALE,
            lead__is_test=False,
            campaign__isnull=False,
            created_at__gte=start,
            created_at__lt=end,
        )
        .values(*group, "campaign__buyer_id", h=TruncHour("created_at"))
        .annotate(n=Count("id"))
        .order_by()
    ):
        row(r).sold = r["n"]
    counts = {event: Count("id", filter=Q(event=event)) for event in EVENTS}
    for r in (
        Disposition.objects.filter(lead__is_test=False, created_at__gte=start, created_at__lt=end)
        .values(*group, "campaign__buyer_id", h=TruncHour("created_at"))
        .annotate(**counts, value=Sum("value", filter=Q(event=DispositionEvent.CONVERTED)))
        .order_by()
    ):
        c = row(r)
        for event in EVENTS:
            setattr(c, event, r[event])
        c.converted_value = r["value"] or Decimal("0")
    return list(rows.values())


@dataclass(slots=True)
class ConversionLine:
    """One line of the dashboard's conversions table."""

    label: str
    sold: int
    contacted: int
    quoted: int
    converted: int
    bad: int
    value: Decimal

    @property
    def conversion_rate(self) -> Decimal | None:
        return (
            None
            if not self.sold
            else (Decimal(self.converted) * 100 / self.sold).quantize(Decimal("0.1"))
        )

    @property
    def value_per_sale(self) -> Decimal | None:
        return None if not self.sold else (self.value / self.sold).quantize(Decimal("0.01"))


# How the dashboard groups conversions: (title, the columns a line is keyed by).
GROUPINGS = {
    "publisher": ("Publisher and sub_id", ("publisher__name", "sub_id")),
    "campaign": ("Buyer and campaign", ("buyer__name", "campaign__slug")),
}


def conversion_table(rows: Any, by: str, limit: int = 30) -> list[ConversionLine]:
    """Conversion lines over ``rows`` (ConversionHour, already narrowed), most sold first."""
    _, columns = GROUPINGS[by]
    sums = {name: Sum(name) for name in ("sold", *EVENTS)}
    lines = []
    for r in (
        rows.values(*columns)
        .annotate(**sums, value=Sum("converted_value"))
        .order_by("-sold", *columns)[:limit]
    ):
        label = " / ".join(str(r[c]) if r[c] else "(none)" for c in columns)
        lines.append(
            ConversionLine(
                label,
                r["sold"] or 0,
                r["contacted"] or 0,
                r["quoted"] or 0,
                r["converted"] or 0,
                r["bad"] or 0,
                (r["value"] or Decimal("0")).quantize(Decimal("0.01")),
            )
        )
    return lines
