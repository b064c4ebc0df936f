"""Dispositions on the admin: the lead page's list, a read-only list of all of them, and
on the campaign page its signed postback URL and secret (``leads.dispositions``).

Leads sits above buyers, so the campaign screen is extended here (whatever class buyers
registered) instead of buyers importing leads.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from buyers.models import Campaign
from plumbing.admin_views import money_column

from .dispositions import postback_secret, rotate_postback_secret
from .models import Disposition

FIELDSET = "Dispositions (signed postback)"


class DispositionInline(admin.TabularInline):
    model = Disposition
    extra = 0
    readonly_fields = ["event", "at", "value_money", "campaign", "source", "created_at"]
    fields = tuple(readonly_fields)
    value_money = money_column("value", "Value")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Disposition)
class DispositionAdmin(admin.ModelAdmin):
    """What buyers reported about the leads they bought (read-only: buyers write them)."""

    list_display = ["created_at", "lead", "event", "value_money", "campaign", "buyer", "source"]
    list_filter = ["event", "source", "buyer"]
    list_select_related = ["campaign", "buyer"]
    search_fields = ["=lead__id"]
    raw_id_fields = ["lead"]
    date_hierarchy = "created_at"
    readonly_fields = ["lead", "campaign", "buyer", "event", "at", "value", "source", "created_at"]
    fields = tuple(readonly_fields)
    value_money = money_column("value", "Value")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PostbackMixin:
    """The campaign page's postback URL (everyone) and secret (those who may change it)."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        return [*fields, "postback_url", "postback_secret"] if obj is not None else fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))  # type: ignore[misc]
        if obj is None:
            return fieldsets
        fieldsets = [
            (name, {**o, "fields": [f for f in o["fields"] if not f.startswith("postback_")]})
            for name, o in fieldsets
        ]
        shown = ["postback_url"]
        if self.has_change_permission(request, obj):  # type: ignore[attr-defined]
            shown.append("postback_secret")
        description = (
            "The buyer's CRM reports what became of a lead (contacted, quoted, converted, "
            "bad) by calling this URL, GET or POST; sig is the hex HMAC-SHA256 of the other "
            "parameters sorted by name, URL-encoded, with this secret; ts is the Unix time "
            "(docs/dispositions.md). The list's action rotates the secret."
        )
        return [*fieldsets, (FIELDSET, {"fields": shown, "description": description})]

    @admin.display(description="Postback URL")
    def postback_url(self, obj: Campaign) -> str:
        path = reverse("api-postback", kwargs={"campaign": obj.slug})
        return format_html(
            "<code>{}?lead_id={{lead_id}}&amp;event={{event}}&amp;value={{value}}"
            "&amp;ts={{unix_time}}&amp;sig={{signature}}</code>",
            path,
        )

    @admin.display(description="Postback secret")
    def postback_secret(self, obj: Campaign) -> str:
        return postback_secret(obj)

    @admin.action(description="Rotate the postback secret", permissions=["change"])
    def rotate_postback_secret(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            rotate_postback_secret(campaign)
            self.log_change(request, campaign, "Rotated the postback secret.")  # type: ignore[attr-defined]
        self.message_user(  # type: ignore[attr-defined]
            request,
            f"New postback secret for {queryset.count()} campaign(s): give it to the buyer; "
            "postbacks signed with the old one are refused from now on.",
            messages.SUCCESS,
        )


def _extend_campaign_admin() -> None:
    base = type(admin.site._registry[Campaign])
    actions = [*(base.actions or []), "rotate_postback_secret"]
    extended = type(f"{base.__name__}WithPostback", (PostbackMixin, base), {"actions": actions})
    admin.site.unregister(Campaign)
    admin.site.register(Campaign, extended)


if Campaign in admin.site._registry:
    _extend_campaign_admin()
