"""The account manager's screens for verticals, publishers and keys."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from buyers.admin import BuyerAdmin

from .models import ApiKey, InboundLog, Publisher, Vertical, VerticalField
from .services import create_api_key, revoke_api_keys, rotate_callback_secrets

admin.site.site_header = "Switchyard"
admin.site.site_title = "Switchyard"
admin.site.index_title = "Lead exchange"


class VerticalFieldInline(admin.TabularInline):
    model = VerticalField
    extra = 0
    fields = [
        "position",
        "name",
        "type",
        "stage",
        "required_at_ping",
        "required_at_post",
        "choices",
    ]


@admin.register(Vertical)
class VerticalAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "routing", "ping_ttl_seconds", "post_deadline_ms", "is_active"]
    list_filter = ["routing", "is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [VerticalFieldInline]


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fk_name = "publisher"
    extra = 0
    can_delete = False
    readonly_fields = ["name", "kind", "prefix", "created_at", "revoked_at"]
    fields = tuple(readonly_fields)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _key_action(kind: str) -> Any:
    @admin.action(description=f"Create a {kind} API key (shown once)")
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        for publisher in queryset:
            _, raw = create_api_key(kind=kind, name=f"{kind} key", publisher=publisher)
            modeladmin.message_user(
                request,
                f"New {kind} key for {publisher}: {raw} — copy it now, it will not be shown again.",
                messages.WARNING,
            )

    action.__name__ = f"create_{kind}_key"
    return action


@admin.action(description="Create a buyer API key (shown once)")
def create_buyer_key(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> None:
    for buyer in queryset:
        _, raw = create_api_key(kind="buyer", name="buyer key", buyer=buyer)
        modeladmin.message_user(
            request,
            f"New key for {buyer}: {raw} — copy it now, it will not be shown again.",
            messages.WARNING,
        )


# The exchange issues every API key, buyers' included, so it adds this action to the
# buyer screen: buyers sit below the exchange and never import it.
BuyerAdmin.actions = [*BuyerAdmin.actions, create_buyer_key]


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "is_active",
        "payout_display",
        "floor",
        "rate_limit",
        "key_count",
    ]
    list_filter = ["is_active", "payout_model"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ApiKeyInline]
    actions = [_key_action("live"), _key_action("test"), "rotate_callback_secret"]
    readonly_fields = ["callback_secret_display"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "is_active"]}),
        ("Payout", {"fields": ["payout_model", "payout_percent", "payout_amount", "floor"]}),
        ("Access", {"fields": ["allowed_ips", "rate_limit"]}),
        (
            "Callbacks",
            {
                "fields": ["callback_url", "callback_secret_display"],
                "description": "Status callbacks carry X-Switchyard-Signature: "
                "sha256=HMAC-SHA256(secret, body). Give the secret to the publisher so it "
                "can check them; the list's actions rotate it.",
            },
        ),
    ]

    @admin.display(description="Payout")
    def payout_display(self, obj: Publisher) -> str:
        if obj.payout_model == "fixed":
            return f"${obj.payout_amount} fixed"
        return f"{obj.payout_percent}% share"

    @admin.display(description="Active keys")
    def key_count(self, obj: Publisher) -> int:
        return sum(1 for k in obj.keys.all() if k.revoked_at is None)

    @admin.display(description="Callback secret")
    def callback_secret_display(self, obj: Publisher) -> str:
        # An unsaved publisher's default secret is not the one it will be saved with.
        return obj.callback_secret if obj.pk else "Made when the publisher is saved."

    @admin.action(description="Rotate callback secret", permissions=["change"])
    def rotate_callback_secret(self, request: HttpRequest, queryset: QuerySet) -> None:
        rotated = rotate_callback_secrets(queryset)
        for publisher in rotated:
            self.log_change(request, publisher, "Rotated the callback secret.")
        names = ", ".join(p.name for p in rotated)
        self.message_user(
            request,
            f"New callback secret for {names}: callbacks are signed with it from now on. "
            "Send it to the publisher (it is on the publisher's page).",
            messages.WARNING,
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("keys")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "kind", "publisher", "buyer", "created_at", "revoked_at"]
    list_filter = ["kind", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["publisher", "buyer"]
    search_fields = ["prefix", "name", "publisher__name", "buyer__name"]
    readonly_fields = ["kind", "publisher", "buyer", "name", "prefix", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are made by the publisher/buyer actions, which show them once

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = revoke_api_keys(queryset)
        self.message_user(request, f"Revoked {count} key(s).")


@admin.register(InboundLog)
class InboundLogAdmin(admin.ModelAdmin):
    """Every call to the public API, refusals included: search by key prefix, lead id,
    path or error code; filter by status and publisher. Read-only."""

    list_display = [
        "created_at",
        "method",
        "path",
        "status_code",
        "error_code",
        "key_prefix",
        "publisher",
        "latency_ms",
        "lead_id",
    ]
    list_filter = ["status_code", "error_code", "method", "publisher"]
    list_select_related = ["publisher"]
    search_fields = ["=key_prefix", "=lead_id", "path", "=error_code", "client_ip"]
    search_help_text = "A key prefix (sy_live_…), a lead or ping id, a path or an error code."
    date_hierarchy = "created_at"
    show_full_result_count = False  # a count over millions of rows on every page is slow

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
