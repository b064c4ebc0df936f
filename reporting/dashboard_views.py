"""``/reports/``: the operations dashboard, as a page and as CSV."""

from __future__ import annotations

import csv
from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from . import charts
from .conversions import GROUPINGS, conversion_table
from .dashboard import (
    Figures,
    Scope,
    error_series,
    latency_by_buyer,
    live_state,
    series,
    unsold_reasons,
)
from .dashboard_forms import DashboardFilter
from .rollup_models import LATENCY_BOUNDS_MS, ConversionHour

PERMISSION = "reporting.view_dashboard"

# (CSV header, Figures attribute)
COLUMNS = [
    ("bucket", "label"),
    ("pings", "pings"),
    ("posts", "posts"),
    ("bids", "bids"),
    ("offer_rate_pct", "offer_rate"),
    ("win_rate_pct", "win_rate"),
    ("acceptance_pct", "acceptance"),
    ("sold", "sold"),
    ("average_bid", "average_bid"),
    ("revenue", "net_revenue"),
    ("revenue_per_lead", "revenue_per_lead"),
    ("payout", "net_payout"),
    ("margin", "margin"),
    ("returns", "returns"),
]


def require_dashboard(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("You may not view the dashboard.")


def _presets() -> list[tuple[str, str]]:
    today = timezone.localdate()
    first = today.replace(day=1)
    return [
        ("Today", f"start={today}&end={today}"),
        ("Yesterday", f"start={today - timedelta(days=1)}&end={today - timedelta(days=1)}"),
        ("Last 7 days", f"start={today - timedelta(days=6)}&end={today}"),
        ("This month", f"start={first}&end={today}"),
    ]


@login_required(login_url="admin:login")
def dashboard(request: HttpRequest) -> HttpResponse:
    require_dashboard(request)
    form = DashboardFilter(request.GET or None)
    if request.GET and not form.is_valid():
        return render(
            request, "reporting/dashboard/index.html", _context(request, form, None), status=400
        )
    if not request.GET:
        today = str(timezone.localdate())
        form = DashboardFilter({"start": today, "end": today})
        form.is_valid()
    scope = form.scope()
    if request.GET.get("format") == "csv":
        return _csv(scope)
    return render(request, "reporting/dashboard/index.html", _context(request, form, scope))


def _context(request: HttpRequest, form: DashboardFilter, scope: Scope | None) -> dict[str, Any]:
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        "form": form,
        "presets": _presets(),
        "query": request.GET.urlencode(),
    }
    if scope is None:
        return context
    total, buckets = series(scope)
    labels = [b.label for b in buckets]
    buyers = latency_by_buyer(scope)
    errors = error_series(scope)
    shown = [b for b in buckets if b.pings or b.sold or b.posts or b.returns]
    context.update(
        scope=scope,
        rows=[_cells(b) for b in shown],
        total_row=_cells(total),
        last_day=scope.end - timedelta(days=1),
        total=total,
        buckets=buckets,
        buyers=buyers,
        reasons=unsold_reasons(scope),
        conversions=[
            (title, key, conversion_table(scope.narrow(ConversionHour.objects.all()), key))
            for key, (title, _) in GROUPINGS.items()
        ],
        live=live_state(scope),
        charts=[
            charts.bar_chart(
                "Volume",
                labels,
                [
                    charts.Series("Pings", [b.pings for b in buckets]),
                    charts.Series("Sold", [b.sold for b in buckets]),
                ],
            ),
            charts.line_chart(
                "Money",
                labels,
                [
                    charts.Series("Revenue", [b.net_revenue for b in buckets]),
                    charts.Series("Margin", [b.margin for b in buckets]),
                ],
                unit="$",
            ),
            charts.line_chart(
                "Rates",
                labels,
                [
                    charts.Series("Offer rate", [b.offer_rate for b in buckets]),
                    charts.Series("Win rate", [b.win_rate for b in buckets]),
                    charts.Series("Acceptance", [b.acceptance for b in buckets]),
                ],
                unit="%",
            ),
            charts.line_chart(
                "Ping errors by class",
                labels,
                [charts.Series(name, values) for name, values in errors.items()],
                unit="%",
            ),
            charts.bar_chart(
                "Ping latency per buyer (ms, bucket bound)",
                [b.name for b in buyers],
                [
                    charts.Series("p50", [_bound(b.p50) for b in buyers]),
                    charts.Series("p95", [_bound(b.p95) for b in buyers]),
                ],
            ),
        ],
    )
    return context


def _bound(value: int | None) -> int | None:
    """The open bucket (-1) drawn at the last bound."""
    return LATENCY_BOUNDS_MS[-1] if value == -1 else value


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _cells(figures: Figures) -> list[str]:
    """A table row as text, formatted once here: a month by hour is 744 rows, and the
    template engine's per-number localisation would cost more than the queries."""
    return [
        "—" if value is None else str(value)
        for value in (getattr(figures, attr) for _, attr in COLUMNS)
    ]


def _csv(scope: Scope) -> HttpResponse:
    total, buckets = series(scope)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"dashboard-{scope.start:%Y%m%d}-{(scope.end - timedelta(days=1)):%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow([header for header, _ in COLUMNS])
    for figures in [*buckets, total]:
        writer.writerow([_cell(getattr(figures, attr)) for _, attr in COLUMNS])
    return response
