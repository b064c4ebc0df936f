"""The last 24 hours' key figures on the buyer, campaign, publisher and endpoint screens.

Reporting sits above those apps, so it extends their admins here (whatever class they
registered) instead of being imported by them. A list page reads the figures of all
its rows in a few queries over the rollups, in one compact column (four columns of their
own ran the lists past a 1366 px screen); a change page shows its object's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Model, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html

from buyers.models import Buyer, Campaign, Endpoint
from exchange.models import Publisher

from .dashboard import percentile_bound, ratio
from .rollup_models import BUCKET_FIELDS, CallHour, ConversionHour, TrafficHour

FIGURE_COLUMNS = ("figures_24h",)
TIMEOUT = "timeout"  # a call's outcome when the buyer did not answer in time


@dataclass(slots=True)
class Last24h:
    sold: int = 0
    accepted: int = 0
    delivered: int = 0
    revenue: Decimal = Decimal("0")
    p95: int | None = None
    calls: int = 0  # pings and posts sent to buyers
    timeouts: int = 0
    converted: int = 0  # dispositions reported by buyers (ConversionHour)
    converted_value: Decimal = Decimal("0")

    @property
    def acceptance(self) -> Decimal | None:
        return ratio(self.accepted, self.delivered)

    @property
    def timeout_rate(self) -> Decimal | None:
        return ratio(self.timeouts, self.calls)


def last_24h(key: str, ids: list[Any]) -> dict[Any, Last24h]:
    """Figures of the last 24 hours for each id of ``key`` (buyer, campaign, publisher)."""
    since = timezone.now() - timedelta(hours=24)
    found = {pk: Last24h() for pk in ids}
    column = f"{key}_id"
    for r in (
        TrafficHour.objects.filter(hour__gte=since.replace(minute=0, second=0, microsecond=0))
        .filter(**{f"{column}__in": ids})
        .values(column)
        .annotate(
            s=Sum("sold"),
            a=Sum("accepted"),
            d=Sum("delivered"),
            r=Sum("revenue"),
            back=Sum("refunded"),
        )
    ):
        f = found[r[column]]
        f.sold, f.accepted, f.delivered = r["s"] or 0, r["a"] or 0, r["d"] or 0
        f.revenue = ((r["r"] or Decimal(0)) - (r["back"] or Decimal(0))).quantize(Decimal("0.01"))
    for r in (
        CallHour.objects.filter(
            kind="ping", hour__gte=since.replace(minute=0, second=0, microsecond=0)
        )
        .filter(**{f"{column}__in": ids})
        .values(column)
        .annotate(**{name: Sum(name) for name in BUCKET_FIELDS})
    ):
        found[r[column]].p95 = percentile_bound([r[n] or 0 for n in BUCKET_FIELDS], 0.95)
    for r in (
        CallHour.objects.filter(hour__gte=since.replace(minute=0, second=0, microsecond=0))
        .filter(**{f"{column}__in": ids})
        .values(column)
        .annotate(n=Sum("calls"), t=Sum("calls", filter=Q(outcome=TIMEOUT)))
    ):
        found[r[column]].calls, found[r[column]].timeouts = r["n"] or 0, r["t"] or 0
    for r in (
        ConversionHour.objects.filter(hour__gte=since.replace(minute=0, second=0, microsecond=0))
        .filter(**{f"{column}__in": ids})
        .values(column)
        .annotate(c=Sum("converted"), v=Sum("converted_value"))
    ):
        found[r[column]].converted = r["c"] or 0
        found[r[column]].converted_value = (r["v"] or Decimal(0)).quantize(Decimal("0.01"))
    return found


def _p95(value: int | None) -> str:
    if value is None:
        return "—"
    return "> 5000 ms" if value == -1 else f"≤ {value} ms"


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


class ListsMedia:
    css = {"all": ["exchange/admin_lists.css"]}  # compact columns, .figures


class FiguresMixin:
    """Adds the last 24 hours' sold, acceptance, revenue, timeouts and ping p95."""

    Media = ListsMedia

    figure_key = ""

    def get_list_display(self, request: HttpRequest) -> Any:
        return [*super().get_list_display(request), *FIGURE_COLUMNS]  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        cl = (getattr(response, "context_data", None) or {}).get("cl")
        if cl is not None:
            rows = list(cl.result_list)  # the page's rows, cached for the template
            figures = last_24h(self.figure_key, [o.pk for o in rows])
            for obj in rows:
                obj.figures_24h = figures[obj.pk]
        return response

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        return [*fields, "last_24h"] if obj is not None else fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))  # type: ignore[misc]
        if obj is None:
            return fieldsets
        fieldsets = [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "last_24h"]})
            for name, opts in fieldsets
        ]
        # "status": a change form may draw it after its inlines (the campaign's does).
        return [*fieldsets, ("Last 24 hours", {"fields": ["last_24h"], "classes": ["status"]})]

    def _figures(self, obj: Model) -> Last24h:
        if not hasattr(obj, "figures_24h"):
            obj.figures_24h = last_24h(self.figure_key, [obj.pk])[obj.pk]  # type: ignore[attr-defined]
        return obj.figures_24h  # type: ignore[attr-defined]

    @admin.display(description="Last 24 h")
    def figures_24h(self, obj: Model) -> str:
        f = self._figures(obj)
        return format_html(
            '<span class="figures">{} sold, ${}<br>{} accepted<br>{} timeouts<br>p95 {}</span>',
            f.sold,
            f"{f.revenue:,.2f}",
            _percent(f.acceptance),
            _percent(f.timeout_rate),
            _p95(f.p95),
        )

    @admin.display(description="Last 24 hours")
    def last_24h(self, obj: Model) -> str:
        f = self._figures(obj)
        acceptance = "—" if f.acceptance is None else f"{f.acceptance}%"
        conversion = ratio(f.converted, f.sold)
        converted = "—" if conversion is None else f"{conversion}%"
        return (
            f"{f.sold} sold, {acceptance} of posts accepted, ${f.revenue:,.2f} revenue, "
            f"{f.converted} converted ({converted}, ${f.converted_value:,.2f}), "
            f"ping p95 {_p95(f.p95)}, {_percent(f.timeout_rate)} of calls timed out "
            "(see /reports/ for more)"
        )


def endpoint_24h(endpoints: list[Endpoint]) -> dict[Any, Last24h]:
    """Each endpoint's calls of the last 24 hours: p95, timeouts, accepted answers."""
    since = (timezone.now() - timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
    found: dict[Any, Last24h] = {(e.campaign_id, e.kind): Last24h() for e in endpoints}
    rows = (
        CallHour.objects.filter(hour__gte=since, campaign_id__in={e.campaign_id for e in endpoints})
        .values("campaign_id", "kind")
        .annotate(
            n=Sum("calls"),
            t=Sum("calls", filter=Q(outcome=TIMEOUT)),
            a=Sum("calls", filter=Q(outcome="accepted")),
            **{name: Sum(name) for name in BUCKET_FIELDS},
        )
    )
    for r in rows:
        f = found.get((r["campaign_id"], r["kind"]))
        if f is not None:
            f.calls, f.timeouts = r["n"] or 0, r["t"] or 0
            f.accepted, f.delivered = r["a"] or 0, r["n"] or 0
            f.p95 = percentile_bound([r[n] or 0 for n in BUCKET_FIELDS], 0.95)
    return found


class EndpointFiguresMixin:
    """The endpoint list's column of its calls' last 24 hours (SPEC §11's health)."""

    Media = ListsMedia

    def get_list_display(self, request: HttpRequest) -> Any:
        return [*super().get_list_display(request), "calls_24h"]  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        cl = (getattr(response, "context_data", None) or {}).get("cl")
        if cl is not None:
            rows = list(cl.result_list)
            figures = endpoint_24h(rows)
            for obj in rows:
                obj.figures_24h = figures[(obj.campaign_id, obj.kind)]
        return response

    @admin.display(description="Last 24 h")
    def calls_24h(self, obj: Endpoint) -> str:
        if not hasattr(obj, "figures_24h"):
            obj.figures_24h = endpoint_24h([obj])[(obj.campaign_id, obj.kind)]  # type: ignore[attr-defined]
        f = obj.figures_24h  # type: ignore[attr-defined]
        return format_html(
            '<span class="figures">{} calls<br>p95 {}<br>{} accepted<br>{} timeouts</span>',
            f.calls,
            _p95(f.p95),
            _percent(f.acceptance),
            _percent(f.timeout_rate),
        )


def extend(model: type[Model], key: str) -> None:
    """Register ``model``'s admin again with the figures added to it."""
    base = type(admin.site._registry[model])
    extended = type(f"{base.__name__}WithFigures", (FiguresMixin, base), {"figure_key": key})
    admin.site.unregister(model)
    admin.site.register(model, extended)


for _model, _key in ((Buyer, "buyer"), (Campaign, "campaign"), (Publisher, "publisher")):
    if _model in admin.site._registry:
        extend(_model, _key)
if Endpoint in admin.site._registry:
    _base = type(admin.site._registry[Endpoint])
    admin.site.unregister(Endpoint)
    admin.site.register(
        Endpoint, type(f"{_base.__name__}WithFigures", (EndpointFiguresMixin, _base), {})
    )
