"""The account manager's screens for buyers, campaigns, endpoints and caps."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from plumbing.admin_views import MintKeysMixin, money_text, permitted_view
from plumbing.history import HistoryAdmin
from plumbing.money import money_label

from . import (
    admin_endpoints,  # noqa: F401  (registers the endpoint screens; Django loads only admin)
    admin_history,  # noqa: F401  (endpoints', credentials' and caps' own history pages)
    services,
)
from .admin_endpoints import next_probe
from .caps import usage
from .console import console_view
from .forms import CampaignForm, CopyCampaignForm, CredentialForm, EndpointForm, EndpointFormSet
from .models import (
    Buyer,
    Campaign,
    Cap,
    Credential,
    Endpoint,
)


class CredentialInline(admin.StackedInline):
    model = Credential
    form = CredentialForm
    extra = 0
    show_change_link = True  # its own page has its change history
    fields = [
        "name",
        "type",
        "header_name",
        "username",
        "token_url",
        "client_id",
        "scope",
        "secret",
        "secret_env",
    ]


class BuyerCapInline(admin.TabularInline):
    model = Cap
    fk_name = "buyer"
    extra = 0
    fields = ["period", "max_leads", "max_spend"]
    verbose_name = "buyer-wide cap"
    show_change_link = True


class CampaignInline(admin.TabularInline):
    """The buyer's campaigns at a glance, each a link to its own page, where it is set
    up (rows of boxes here ran the buyer page to 1,600 px; "Add a campaign" above
    opens the campaign form with this buyer chosen)."""

    model = Campaign
    extra = 0
    fields = ("slug", "name", "vertical", "pricing_model", "priority", "is_active", "paused_reason")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Buyer)
class BuyerAdmin(MintKeysMixin, HistoryAdmin):
    list_display = ["name", "slug", "is_active", "timezone", "return_window_days", "campaign_count"]
    list_filter = ["is_active", "timezone"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [CampaignInline, CredentialInline, BuyerCapInline]
    actions: list[Any] = []  # the exchange adds "create a buyer API key" (exchange.admin)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_campaigns=Count("campaigns"))

    @admin.display(description="Campaigns", ordering="n_campaigns")
    def campaign_count(self, obj: Any) -> int:
        return obj.n_campaigns


class EndpointInline(admin.StackedInline):
    """A campaign's ping and post endpoints; mappings are checked against the
    campaign's vertical on save and every change of rules is versioned."""

    model = Endpoint
    form = EndpointForm
    formset = EndpointFormSet
    extra = 0
    max_num = 2
    show_change_link = True  # its own page has its change history with restore
    fields = [
        "kind",
        ("url", "test_url"),
        ("method", "format", "timeout_ms"),
        "credential",
        "headers",
        "mapping",
        "response",
        "history",
    ]
    readonly_fields = ["history"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("credential")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "credential":
            # Only the campaign's own buyer's credentials: the saved campaign's, or on
            # the add page the buyer the page was opened for (or posts).
            kwargs["queryset"] = Credential.objects.filter(buyer_id__in=_page_buyer(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Change history")
    def history(self, endpoint: Endpoint) -> str:
        if not endpoint.pk:
            return "—"
        latest = endpoint.versions.select_related("changed_by").first()
        if latest is None:
            return "no recorded version yet"
        url = reverse("admin:buyers_mappingversion_changelist") + f"?endpoint={endpoint.pk}"
        who = latest.changed_by or "an import"
        return format_html(
            'version {} by {} at {} — <a href="{}">all versions</a>',
            latest.number,
            who,
            timezone.localtime(latest.changed_at).strftime("%Y-%m-%d %H:%M"),
            url,
        )


def _page_buyer(request: HttpRequest) -> list[int]:
    """The buyer of the campaign page being shown or posted: ``[id]``, or ``[]``."""
    object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
    if object_id:
        return list(Campaign.objects.filter(pk=object_id).values_list("buyer_id", flat=True))
    chosen = request.POST.get("buyer") or request.GET.get("buyer") or ""
    return [int(chosen)] if chosen.isdigit() else []


class CampaignCapInline(admin.TabularInline):
    model = Cap
    fk_name = "campaign"
    extra = 0
    fields = ["period", "max_leads", "max_spend", "used_now"]
    readonly_fields = ["used_now"]
    show_change_link = True

    @admin.display(description="Used in the current window")
    def used_now(self, cap: Cap) -> str:
        if not cap.pk:
            return "—"
        from django.utils import timezone

        leads, spend = usage(cap, timezone.now())
        limit = (
            f"/ {cap.max_leads} leads"
            if cap.max_leads is not None
            else f"/ {money_label(cap.max_spend)}"
        )
        used = f"{leads} leads" if cap.max_leads is not None else money_label(spend)
        return f"{used} {limit}"


@admin.register(Campaign)
class CampaignAdmin(HistoryAdmin):
    form = CampaignForm
    list_display = [
        "__str__",
        "buyer",
        "vertical",
        "price_display",  # says fixed or bid; pricing_model is a filter
        "priority",
        "is_active",
        "paused_reason",
        "circuits",
    ]
    list_filter = ["is_active", "pricing_model", "fallback", "vertical", "buyer"]
    list_select_related = ["buyer", "vertical"]
    search_fields = ["slug", "name", "buyer__name"]
    autocomplete_fields = ["buyer"]
    inlines = [EndpointInline, CampaignCapInline]
    actions = ["resume", "copy"]
    fieldsets = [
        (None, {"fields": ["buyer", "vertical", "name", "slug", "is_active", "paused_reason"]}),
        (
            "Pricing",
            {
                "fields": [
                    "pricing_model",
                    "fixed_price",
                    "price_modifiers",
                    "min_bid",
                    "max_bid",
                    "priority",
                    "fallback",
                ]
            },
        ),
        (
            "Targeting",
            {
                "fields": [
                    "filters",
                    "schedule",
                    "require_tcpa_consent",
                    "require_trustedform",
                    "require_jornaya",
                    "dedupe_days",
                    "throttle",
                ]
            },
        ),
        (
            "Delivery",
            {"fields": ["max_attempts", "retry_backoff", "max_timeout_rate", "max_p95_latency_ms"]},
        ),
        # Read-only: drawn below the endpoints and caps (change_form.html), so that the
        # page reads buyer -> campaign -> endpoints -> caps, then how it is doing.
        (
            "Health now",
            {"fields": ["cap_usage", "circuit_status", "test_console"], "classes": ["status"]},
        ),
    ]
    readonly_fields = ["paused_reason", "cap_usage", "circuit_status", "test_console"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("endpoints__circuit")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        # Viewers are not offered the test console they may not use.
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "test_console"]})
            for name, opts in fieldsets
        ]

    def get_urls(self) -> list[URLPattern]:
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            return console_view(self, request, object_id)

        console = path(
            "<path:object_id>/test-lead/",
            # Sending test leads to a buyer is operating the campaign.
            permitted_view(self.admin_site, view, ["buyers.change_campaign"]),
            name="buyers_campaign_test_lead",
        )
        copy = path(
            "<path:object_id>/copy/",
            permitted_view(self.admin_site, self.copy_view, ["buyers.add_campaign"]),
            name="buyers_campaign_copy",
        )
        return [console, copy, *super().get_urls()]

    def copy_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Asks for the copy's name and slug (GET), then makes it, paused (POST)."""
        original = self.get_object(request, object_id)
        if original is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        form = CopyCampaignForm(
            request.POST or None,
            initial={
                "name": f"Copy of {original}",
                "slug": services.free_campaign_slug(f"{original.slug}-copy"),
            },
        )
        if request.method == "POST" and form.is_valid():
            copy = services.copy_campaign(original, **form.cleaned_data)
            self.log_addition(request, copy, f"Copied from {original.slug}")
            self.message_user(
                request, f"Copied to {copy.slug}, paused: check it, then activate it."
            )
            return redirect(reverse("admin:buyers_campaign_change", args=[copy.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Copy campaign {original}",
            "opts": self.opts,
            "original": original,
            "form": form,
        }
        return TemplateResponse(request, "admin/buyers/campaign/copy.html", context)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Endpoint:
            super().save_formset(request, form, formset, change)
            return
        endpoints = formset.save(commit=False)
        for endpoint in formset.deleted_objects:
            endpoint.delete()
        for endpoint in endpoints:
            # The service records a MappingVersion by this user when the rules changed.
            services.save_endpoint(endpoint, changed_by=request.user)
        formset.save_m2m()

    @admin.display(description="Circuits")
    def circuits(self, obj: Campaign) -> str:
        states = [
            f"{e.kind} {e.circuit.status}"
            for e in obj.endpoints.all()
            if hasattr(e, "circuit") and e.circuit.status != "closed"
        ]
        return ", ".join(states) or "closed"

    @admin.display(description="Cap usage (current windows)")
    def cap_usage(self, obj: Campaign) -> str:
        if not obj.pk:
            return "—"

        now = timezone.now()
        rows = []
        for owner, caps in (("campaign", obj.caps.all()), ("buyer", obj.buyer.caps.all())):
            for cap in caps:
                leads, spend = usage(cap, now, obj.buyer.timezone)
                rows.append((owner, cap.period, *_cap_use(cap, leads, spend)))
        if not rows:
            return "no caps"
        return format_html(
            "<table><tr><th>Cap of</th><th>Per</th><th>Used</th><th>Limit</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="Circuit breakers")
    def circuit_status(self, obj: Campaign) -> str:
        if not obj.pk:
            return "—"
        rows = []
        for endpoint in obj.endpoints.select_related("circuit"):
            state = getattr(endpoint, "circuit", None)
            if state is None or state.status == "closed":
                failures = state.consecutive_failures if state else 0
                rows.append((endpoint.kind, "closed", f"{failures} consecutive failures"))
            else:
                rows.append((endpoint.kind, state.status, f"next probe {next_probe(state)}"))
        if not rows:
            return "no endpoints"
        return format_html_join("", "<div>{}: {} ({})</div>", rows)

    @admin.display(description="Test console")
    def test_console(self, obj: Campaign) -> str:
        if not obj.pk:
            return "save the campaign first"
        url = reverse("admin:buyers_campaign_test_lead", args=[obj.pk])
        return format_html('<a class="button" href="{}">Send test lead</a>', url)

    @admin.display(description="Price")
    def price_display(self, obj: Campaign) -> str:
        if obj.pricing_model == "fixed":
            return f"${money_text(obj.fixed_price)} fixed"
        return f"bid ≥ ${money_text(obj.min_bid)}"

    @admin.action(description="Copy the selected campaigns (paused)", permissions=["add"])
    def copy(self, request: HttpRequest, queryset: QuerySet) -> None:
        copies = [services.copy_campaign(c) for c in queryset.select_related("buyer")]
        for copy in copies:
            self.log_addition(request, copy, "Copied")
        self.message_user(
            request, f"Made {len(copies)} paused copies: {', '.join(c.slug for c in copies)}."
        )

    @admin.action(description="Resume paused campaigns", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.resume_campaigns(queryset)
        self.message_user(request, f"Resumed {count} campaign(s).")


def _cap_use(cap: Cap, leads: int, spend: Any) -> tuple[str, str]:
    """(used, limit) of a cap, in what it limits."""
    used, limit = [], []
    if cap.max_leads is not None:
        used.append(f"{leads} leads")
        limit.append(f"{cap.max_leads} leads")
    if cap.max_spend is not None:
        used.append(money_label(spend))
        limit.append(money_label(cap.max_spend))
    return " and ".join(used), " and ".join(limit)
