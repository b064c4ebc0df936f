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
from .models import Buyer, Cap, Credential, Endpoint


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
    restore. They are made on their buyer's page, or from an endpoint ("+" beside its
    credential), which opens this add page for the campaign's buyer."""

    form = CredentialForm
    list_display = ["name", "buyer", "type"]
    list_filter = ["type"]
    list_select_related = ["buyer"]
    search_fields = ["name", "buyer__name"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["buyer", *CredentialForm.Meta.fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["buyer"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        chosen = request.GET.get("buyer", "")
        if db_field.name == "buyer" and chosen.isdigit():
            # Opened from a campaign's endpoint: that campaign's buyer only.
            kwargs["queryset"] = Buyer.objects.filter(pk=int(chosen))
            kwargs["initial"] = int(chosen)
            kwargs["empty_label"] = None
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
