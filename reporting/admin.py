"""Finance in the admin: closing a month, and the invoices (read-only; voiding is an
action that issues a credit note)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from leads.models import ClosedPeriod
from leads.periods import PeriodError, close_period, parse_month

from . import admin_figures, ops_admin  # noqa: F401  (24 h figures; alerts and rules)
from .invoices import InvoiceRefused, void_invoice
from .models import Invoice

CLOSE = "reporting.close_period"
ISSUE = "reporting.issue_invoice"


class ClosePeriodForm(forms.Form):
    month = forms.CharField(
        max_length=7,
        help_text="YYYY-MM, a month that is over, read in the exchange's time zone.",
        widget=forms.TextInput(attrs={"placeholder": "2026-10", "type": "month"}),
    )

    def clean_month(self) -> Any:
        try:
            return parse_month(self.cleaned_data["month"])
        except PeriodError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(ClosedPeriod)
class ClosedPeriodAdmin(admin.ModelAdmin):
    list_display = ["month_label", "starts_at", "ends_at", "closed_at", "closed_by", "reconcile"]
    list_select_related = ["closed_by"]

    @admin.display(description="Month", ordering="month")
    def month_label(self, obj: ClosedPeriod) -> str:
        return f"{obj.month:%Y-%m}"

    @admin.display(description="")
    def reconcile(self, obj: ClosedPeriod) -> str:
        url = reverse("finance:reconciliation") + f"?month={obj.month:%Y-%m}"
        return format_html('<a href="{}">reconciliation</a>', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CLOSE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a closed month stays closed: corrections go in the open one

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(CLOSE) or request.user.has_perm("reporting.view_statements")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """Close a month: the admin's face of ``manage.py close_period``."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ClosePeriodForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                period = close_period(form.cleaned_data["month"], user=request.user)
            except PeriodError as exc:
                form.add_error("month", str(exc))
            else:
                self.message_user(
                    request,
                    f"Closed {period.month:%Y-%m}: its ledger entries are now final.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:leads_closedperiod_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Close a month",
            "intro": "No ledger entry may be dated in a closed month; later returns and "
            "adjustments concerning it are booked in the open month. This cannot be undone.",
            "form": form,
            "submit_label": "Close month",
        }
        return TemplateResponse(request, "admin/finance/form.html", context)


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "kind",
        "buyer_name",
        "period_from",
        "period_to",
        "net",
        "issued_at",
        "printable",
    ]
    list_filter = ["kind", "year", "buyer"]
    list_select_related = ["buyer"]
    search_fields = ["number", "buyer_name"]
    date_hierarchy = "issued_at"
    actions = ["void_selected"]
    readonly_fields = [f.name for f in Invoice._meta.fields]

    @admin.display(description="")
    def printable(self, obj: Invoice) -> str:
        return format_html(
            '<a href="{}">open / print</a>', reverse("finance:invoice", args=[obj.number])
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # issued from a buyer statement of a closed period

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("reporting.view_statements") or super().has_view_permission(
            request, obj
        )

    def has_void_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ISSUE)

    @admin.action(
        description="Void the selected invoices (issue credit notes)", permissions=["void"]
    )
    def void_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        for invoice in queryset.order_by("pk"):
            try:
                credit = void_invoice(invoice, user=request.user)
            except InvoiceRefused as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"{invoice.number} voided by {credit.number}.")
