"""Admin screens for operations: alerts (listed, acknowledged) and their rules."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import alerts
from .alert_models import THRESHOLDS, Alert, AlertRule

DASHBOARD = "reporting.view_dashboard"


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "acknowledged"
    parameter_name = "acknowledged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Not yet"), ("yes", "Yes")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Alert]) -> QuerySet[Alert]:
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        return queryset


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = (
        "at",
        "event",
        "title",
        "email_status",
        "webhook_status",
        "acknowledged_by",
        "acknowledged_at",
    )
    list_filter = (AcknowledgedFilter, "event", "at")
    list_select_related = ("acknowledged_by",)
    search_fields = ("title", "subject")
    date_hierarchy = "at"
    actions = ["acknowledge"]
    readonly_fields = [f.name for f in Alert._meta.fields]

    # Anyone who may read the dashboard may read its alerts; changing is acknowledging.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(DASHBOARD)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(DASHBOARD)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Acknowledge the selected alerts", permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        done = alerts.acknowledge(queryset, request.user)
        self.message_user(request, f"{done} alert(s) acknowledged.", messages.SUCCESS)


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("event", "is_active", "recipients", "threshold", "quiet_minutes", "updated_at")
    list_editable = ("is_active",)
    fields = ("event", "is_active", "emails", "webhook_url", "threshold", "quiet_minutes")

    @admin.display(description="Sent to")
    def recipients(self, rule: AlertRule) -> str:
        emails, webhook = alerts.recipients(rule)
        parts = [", ".join(emails)] if emails else []
        if webhook:
            parts.append("webhook")
        return "; ".join(parts) or "nobody"

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        meaning = "; ".join(f"{event}: {text}" for event, (text, _) in THRESHOLDS.items())
        form.base_fields["threshold"].help_text = meaning
        return form
