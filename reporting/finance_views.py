"""Finance's screens under ``/reports/``: statements (page and CSV), the month's
reconciliation, invoices and the finance landing page.

Thin views: every figure comes from ``statements``, ``reconciliation`` or the frozen
``Invoice`` rows; every change goes through ``invoices``. Log-in is the admin's and
each view checks its permission (superusers pass).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from functools import wraps
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.decorators.http import require_POST

from buyers.models import Buyer
from exchange.models import Publisher
from leads.models import ClosedPeriod
from leads.periods import PeriodError, exchange_zone, is_closed, month_of, next_month, parse_month

from .invoices import InvoiceRefused, issue_invoice, months_of, void_invoice
from .models import Invoice
from .reconciliation import reconcile
from .statements import (
    PARTIES,
    PeriodInvalid,
    csv_rows,
    lines,
    parse_period,
    party_statement,
)

VIEW = "reporting.view_statements"
ISSUE = "reporting.issue_invoice"
LINES_PER_PAGE = 100
OWNERS: dict[str, Any] = {"buyer": Buyer, "publisher": Publisher}


def finance(
    perm: str,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Log-in (the admin's page) and ``perm`` required; a signed-in user without it
    gets 403."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.has_perm(perm):
                raise PermissionDenied(f"needs the {perm} permission")
            return view(request, *args, **kwargs)

        return login_required(checked, login_url="admin:login")

    return decorate


class CountedPaginator(Paginator):
    """A paginator told its count: a statement's totals already counted its rows, so
    the page does not scan them a second time."""

    def __init__(self, object_list: Any, per_page: int, count: int) -> None:
        super().__init__(object_list, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count


class Echo:
    """A file-like object whose ``write`` hands the line back, for streaming csv."""

    def write(self, value: str) -> str:
        return value


def stream_csv(rows: Iterator[list[str]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {
        **admin.site.each_context(request),
        "title": title,
        "time_zone": str(exchange_zone()),
        **extra,
    }


def _this_month() -> date:
    return month_of(timezone.now())


@finance(VIEW)
def finance_index(request: HttpRequest) -> HttpResponse:
    """The parties, this and last month's statements, recent invoices."""
    this_month = _this_month()
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    return render(
        request,
        "reporting/finance/index.html",
        _context(
            request,
            "Finance",
            buyers=Buyer.objects.order_by("name").only("slug", "name", "is_active"),
            publishers=Publisher.objects.order_by("name").only("slug", "name", "is_active"),
            this_month=this_month,
            this_month_end=next_month(this_month) - timedelta(days=1),
            last_month=last_month,
            last_month_end=this_month - timedelta(days=1),
            closed=ClosedPeriod.objects.select_related("closed_by")[:12],
            invoices=Invoice.objects.select_related("buyer")[:10],
            can_issue=request.user.has_perm(ISSUE),
        ),
    )


@finance(VIEW)
def statement_view(request: HttpRequest, party: str, slug: str) -> HttpResponseBase:
    """A party's statement for ``?from=&to=``; ``&format=csv`` streams its rows."""
    if party not in PARTIES:
        raise Http404("no such party")
    owner = get_object_or_404(OWNERS[party], slug=slug)
    try:
        period = parse_period(request.GET.get("from"), request.GET.get("to"))
    except PeriodInvalid as exc:
        return render(
            request,
            "reporting/finance/statement.html",
            _context(request, f"Statement: {owner.name}", party=party, owner=owner, error=str(exc)),
            status=400,
        )
    if request.GET.get("format") == "csv":
        name = f"statement-{party}-{owner.slug}-{period.first}-{period.last}.csv"
        return stream_csv(csv_rows(party, owner, period.start, period.end), name)
    statement = party_statement(party, owner, period.start, period.end)
    rows = statement.sales_count + statement.returns_count + statement.adjustments_count
    page = CountedPaginator(
        lines(party, owner, period.start, period.end), LINES_PER_PAGE, rows
    ).get_page(request.GET.get("page"))
    months = months_of(period)
    closed = all(is_closed(m) for m in months)
    return render(
        request,
        "reporting/finance/statement.html",
        _context(
            request,
            f"{party.title()} statement: {owner.name}",
            party=party,
            owner=owner,
            period=period,
            statement=statement,
            page=page,
            closed=closed,
            can_issue=party == "buyer" and closed and request.user.has_perm(ISSUE),
            invoices=Invoice.objects.filter(
                buyer=owner, period_from__lte=period.last, period_to__gte=period.first
            )
            if party == "buyer"
            else [],
        ),
    )


@finance(VIEW)
def reconciliation_view(request: HttpRequest) -> HttpResponse:
    """``?month=YYYY-MM`` (default: this month): parties, checks and exceptions."""
    raw = request.GET.get("month") or f"{_this_month():%Y-%m}"
    try:
        month = parse_month(raw)
    except PeriodError as exc:
        return render(
            request,
            "reporting/finance/reconciliation.html",
            _context(request, "Reconciliation", error=str(exc), month_value=raw),
            status=400,
        )
    result = reconcile(month)
    return render(
        request,
        "reporting/finance/reconciliation.html",
        _context(
            request,
            f"Reconciliation {month:%Y-%m}",
            rec=result,
            month_value=f"{month:%Y-%m}",
            month_end=next_month(month) - timedelta(days=1),
        ),
    )


@finance(VIEW)
def invoice_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(Invoice.objects.select_related("buyer", "credit_note"), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request, "reporting/finance/invoice_list.html", _context(request, "Invoices", page=page)
    )


@finance(VIEW)
def invoice_detail(request: HttpRequest, number: str) -> HttpResponse:
    """The printable invoice (or credit note): its frozen totals and lines."""
    invoice = get_object_or_404(Invoice.objects.select_related("buyer", "issued_by"), number=number)
    credit = Invoice.objects.filter(credit_for=invoice).first()
    return render(
        request,
        "reporting/finance/invoice.html",
        _context(
            request,
            f"{invoice.get_kind_display()} {invoice.number}",
            invoice=invoice,
            credit=credit,
            lines=invoice.lines.all(),
            can_void=request.user.has_perm(ISSUE) and invoice.kind == "invoice" and credit is None,
        ),
    )


@require_POST
@finance(ISSUE)
def invoice_issue(request: HttpRequest) -> HttpResponseRedirect:
    buyer = get_object_or_404(Buyer, slug=request.POST.get("buyer", ""))
    back = reverse("finance:statement", args=["buyer", buyer.slug])
    try:
        period = parse_period(request.POST.get("from"), request.POST.get("to"))
        invoice = issue_invoice(buyer, period, user=request.user)
    except (PeriodInvalid, InvoiceRefused) as exc:
        messages.error(request, str(exc))
        query = f"?from={request.POST.get('from', '')}&to={request.POST.get('to', '')}"
        return HttpResponseRedirect(back + query)
    messages.success(request, f"Issued {invoice.number} for {invoice.net} {invoice.currency}.")
    return HttpResponseRedirect(reverse("finance:invoice", args=[invoice.number]))


@require_POST
@finance(ISSUE)
def invoice_void(request: HttpRequest, number: str) -> HttpResponseRedirect:
    invoice = get_object_or_404(Invoice, number=number)
    try:
        credit = void_invoice(invoice, user=request.user)
    except InvoiceRefused as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(reverse("finance:invoice", args=[invoice.number]))
    messages.success(request, f"Voided {invoice.number} with credit note {credit.number}.")
    return HttpResponseRedirect(reverse("finance:invoice", args=[credit.number]))
