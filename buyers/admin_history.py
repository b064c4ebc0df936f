"""Endpoints, credentials and caps on pages of their own: their change history, with
restore. They are made and edited inline on their campaign's or buyer's page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from plumbing.history import HistoryAdmin

from . import services
from .admin_endpoints import CircuitButtonMixin
from .forms import CredentialForm, EndpointForm
from .models import Cap, Credential, Endpoint


class EndpointAdminForm(EndpointForm):
    """An endpoint on its own page (its history, restore): the mapping is checked
    against the campaign's vertical, as the campaign page's inline does."""

    class Meta(EndpointForm.Meta):
        fields = [
            "url",
            "test_url",
            "method",
            "format",
            "timeout_ms",
            "credential",
            *EndpointForm.Meta.fields,
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        campaign = self.instance.campaign
        mapping = cleaned.get("mapping")
        if mapping is not None:
            schema = services.schema_of(campaign.vertical)
            problems = services.mapping_problems(mapping, schema, self.instance.kind)
            problems += services.target_problems(mapping, cleaned.get("format", ""))
            if problems:
                self.add_error("mapping", "; ".join(str(p) for p in problems))
        return cleaned


@admin.register(Endpoint)
class EndpointAdmin(CircuitButtonMixin, HistoryAdmin):
    """Endpoints one by one: their change history with restore. They are made and edited
    on their campaign's page."""

    form = EndpointAdminForm
    list_display = ["__str__", "kind", "url", "format", "timeout_ms"]
    list_filter = ["kind", "format", "campaign__buyer"]
    list_select_related = ["campaign"]
    search_fields = ["campaign__slug", "url"]
    readonly_fields = ["campaign", "kind"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        services.save_endpoint(obj, changed_by=request.user)


@admin.register(Credential)
class CredentialAdmin(HistoryAdmin):
    """Buyers' credentials one by one: their change history (never the secret) with
    restore. They are made on their buyer's page."""

    form = CredentialForm
    list_display = ["name", "buyer", "type"]
    list_filter = ["type"]
    list_select_related = ["buyer"]
    search_fields = ["name", "buyer__name"]
    readonly_fields = ["buyer"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Cap)
class CapAdmin(HistoryAdmin):
    """Caps one by one: their change history with restore. They are set on the
    campaign's or buyer's page."""

    list_display = ["__str__", "campaign", "buyer", "period", "max_leads", "max_spend"]
    list_filter = ["period"]
    list_select_related = ["campaign", "buyer"]
    fields = ["campaign", "buyer", "period", "max_leads", "max_spend"]
    readonly_fields = ["campaign", "buyer"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
