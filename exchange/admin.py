"""The account manager's screens for verticals, publishers and keys."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from buyers.admin import BuyerAdmin
from plumbing.admin_views import MintKeysMixin, money_column, money_label
from plumbing.history import HistoryAdmin

from .models import ApiKey, InboundLog, Publisher, Vertical, VerticalField
from .posting_instructions import instructions_context
from .services import create_api_key, revoke_api_keys, rotate_callback_secrets

admin.site.site_header = "Switchyard"
admin.site.site_title = "Switchyard"
admin.site.index_title = "Lead exchange"

REVOKE_KEY_PERMISSION = "exchange.change_apikey"


class VerticalFieldInline(admin.TabularInline):
    model = VerticalField
    extra = 0
    show_change_link = True  # its own page has its change history
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
class VerticalAdmin(HistoryAdmin):
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
    @admin.action(description=f"Create a {kind} API key (shown once)", permissions=["mint_key"])
    def action(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        keys = []
        for publisher in queryset:
            key, raw = create_api_key(kind=kind, name=f"{kind} key", publisher=publisher)
            keys.append((publisher, key, raw))
        return modeladmin.show_new_keys(request, keys)

    action.__name__ = f"create_{kind}_key"
    return action


@admin.action(description="Create a buyer API key (shown once)", permissions=["mint_key"])
def create_buyer_key(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
    keys = []
    for buyer in queryset:
        key, raw = create_api_key(kind="buyer", name="buyer key", buyer=buyer)
        keys.append((buyer, key, raw))
    return modeladmin.show_new_keys(request, keys)


# The exchange issues every API key, buyers' included, so it adds this action to the
# buyer screen: buyers sit below the exchange and never import it.
BuyerAdmin.actions = [*BuyerAdmin.actions, create_buyer_key]


@admin.register(Publisher)
class PublisherAdmin(MintKeysMixin, HistoryAdmin):
    list_display = [
        "name",
        "slug",
        "is_active",
        "payout_display",
        "floor_money",
        "rate_limit",
        "key_count",
    ]
    list_filter = ["is_active", "payout_model"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ApiKeyInline]
    actions = [_key_action("live"), _key_action("test"), "rotate_callback_secret"]
    readonly_fields = ["callback_secret_display", "posting_instructions"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "is_active"]}),
        ("Payout", {"fields": ["payout_model", "payout_percent", "payout_amount", "floor"]}),
        ("Access", {"fields": ["allowed_ips", "rate_limit"]}),
        (
            "Callbacks",
            {
                "fields": ["callback_url", "forward_dispositions", "callback_secret_display"],
                "description": "Status callbacks carry X-Switchyard-Signature: "
                "sha256=HMAC-SHA256(secret, body). Give the secret to the publisher so it "
                "can check them; the list's actions rotate it.",
            },
        ),
        ("Integration", {"fields": ["posting_instructions"]}),
    ]

    @admin.display(description="Posting instructions")
    def posting_instructions(self, obj: Publisher) -> str:
        """A link per active vertical to the document for the publisher's developer."""
        if not obj.pk:
            return "Once the publisher is saved."
        verticals = Vertical.objects.filter(is_active=True).order_by("name")
        links = format_html_join(
            " · ",
            '<a href="{}" class="posting-instructions">{}</a>',
            (
                (reverse("admin:exchange_publisher_instructions", args=[obj.pk, v.slug]), v.name)
                for v in verticals
            ),
        )
        return links or format_html("{}", "No active vertical yet.")

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<path:object_id>/instructions/<slug:vertical>/",
                self.admin_site.admin_view(self.instructions_view),
                name="exchange_publisher_instructions",
            ),
            path(
                "<path:object_id>/instructions/<slug:vertical>/print/",
                self.admin_site.admin_view(self.instructions_view),
                {"printable": True},
                name="exchange_publisher_instructions_print",
            ),
        ]
        return [*extra, *super().get_urls()]

    def instructions_view(
        self, request: HttpRequest, object_id: str, vertical: str, printable: bool = False
    ) -> HttpResponse:
        """Posting instructions for one vertical: a page in the admin, and a print view
        of the same document (no admin chrome; the browser's Print makes the PDF)."""
        publisher = self.get_object(request, object_id)
        if publisher is None:
            raise Http404("No such publisher.")
        if not self.has_view_permission(request, publisher):
            raise PermissionDenied
        chosen = get_object_or_404(Vertical, slug=vertical, is_active=True)
        context = {
            **self.admin_site.each_context(request),
            **instructions_context(publisher, chosen, request.build_absolute_uri("/")),
            "opts": self.model._meta,
            "title": f"Posting instructions: {publisher.name}, {chosen.name}",
        }
        template = "instructions_print" if printable else "instructions"
        return TemplateResponse(request, f"admin/exchange/publisher/{template}.html", context)

    @admin.display(description="Payout")
    def payout_display(self, obj: Publisher) -> str:
        if obj.payout_model == "fixed":
            return f"{money_label(obj.payout_amount)} fixed"
        return f"{obj.payout_percent}% share"

    floor_money = money_column("floor", "Floor")

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
class ApiKeyAdmin(HistoryAdmin):
    list_display = ["prefix", "name", "kind", "publisher", "buyer", "created_at", "revoked_at"]
    list_filter = ["kind", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["publisher", "buyer"]
    search_fields = ["prefix", "name", "publisher__name", "buyer__name"]
    readonly_fields = ["kind", "publisher", "buyer", "name", "prefix", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are made by the publisher/buyer actions, which show them once

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVOKE_KEY_PERMISSION)

    @admin.action(description="Revoke the selected keys", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = revoke_api_keys(queryset)
        self.message_user(request, f"Revoked {count} key(s).")


@admin.register(VerticalField)
class VerticalFieldAdmin(HistoryAdmin):
    """A vertical's fields one by one: their change history with restore. They are
    edited on the vertical's page."""

    list_display = ["__str__", "type", "stage", "required_at_ping", "required_at_post"]
    list_filter = ["vertical", "type", "stage"]
    list_select_related = ["vertical"]
    search_fields = ["name", "vertical__slug"]
    fields = [
        "vertical",
        "position",
        "name",
        "type",
        "stage",
        "required_at_ping",
        "required_at_post",
        "choices",
    ]
    readonly_fields = ["vertical"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


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
