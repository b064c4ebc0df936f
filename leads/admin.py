"""Leads, deliveries, the transaction log and the ledger: read-only screens.

The writes here call services: the replay of failed leads, and finance's adjustment
and return forms (``add`` on the ledger and on returns), which go through the same
ledger services as the API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from plumbing.admin_views import (
    AdminListsMedia,
    MoneyFieldsMixin,
    local_time,
    money_column,
    permitted_view,
    relative_time,
    secret_page,
    short_id,
)
from plumbing.pii import mask_fields

from .admin_buttons import (
    can_replay,
    change_url,
    delivery_or_404,
    lead_or_404,
    replay_from_page,
    replay_url,
)
from .admin_dispositions import DispositionInline
from .admin_finding import LEAD_SEARCH_HELP, LeadSearchMixin, lead_link
from .choices import DeliveryStatus, LeadStatus
from .delivery import replay_lead
from .forms import AdjustmentForm, ReturnForm
from .ledger import LedgerError, record_adjustment
from .models import (
    Bid,
    Delivery,
    Lead,
    LeadEvent,
    LedgerEntry,
    PiiReveal,
    PublisherCallback,
    Return,
    TransactionLog,
)
from .returns import ReturnRefused, record_return
from .reveal import REVEAL_PERMISSION, reveal_pii
from .selectors import price_story


class RevealForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        label="Why do you need to see it?",
        help_text="Recorded with your name and the time, e.g. 'buyer dispute #4411'.",
    )


class ReadOnlyMixin(MoneyFieldsMixin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyTabular(ReadOnlyMixin, admin.TabularInline):
    extra = 0


class ReplayMixin:
    """The "replay" action: failed leads get fresh attempts at their failed deliveries."""

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("leads.change_delivery")

    def replay_leads(self, request: HttpRequest, leads: Iterable[Lead]) -> None:
        by = request.user.get_username() or "an account manager"
        leads = list(leads)
        replayed = sum(replay_lead(lead, by=by) for lead in leads)
        skipped = len(leads) - replayed
        self.message_user(  # type: ignore[attr-defined]
            request,
            f"Replayed {replayed} lead(s); they will be delivered shortly."
            + (f" {skipped} skipped: not failed (already replayed or sold)." if skipped else ""),
            messages.SUCCESS if replayed else messages.WARNING,
        )


class BidInline(ReadOnlyTabular):
    model = Bid
    readonly_fields = [
        "rank",
        "campaign",
        "outcome",
        "price_money",
        "reference",
        "latency_ms",
        "reason",
    ]
    fields = tuple(readonly_fields)
    ordering = ["rank"]
    price_money = money_column("price", "Price")


class DeliveryInline(ReadOnlyTabular):
    model = Delivery
    readonly_fields = [
        "rank",
        "campaign",
        "status",
        "price_money",
        "attempts",
        "last_outcome",
        "next_attempt_at",
        "reason",
    ]
    fields = tuple(readonly_fields)
    price_money = money_column("price", "Price")


class CallInline(ReadOnlyTabular):
    model = TransactionLog
    readonly_fields = [
        "created_at",
        "kind",
        "campaign",
        "outcome",
        "status_code",
        "duration_ms",
        "attempt",
        "error",
    ]
    fields = tuple(readonly_fields)
    ordering = ["created_at"]
    show_change_link = True


class EventInline(ReadOnlyTabular):
    model = LeadEvent
    readonly_fields = ["at", "from_status", "to_status", "note"]
    fields = tuple(readonly_fields)


class CallbackInline(ReadOnlyTabular):
    model = PublisherCallback
    fk_name = "lead"
    readonly_fields = ["created_at", "event_status", "status", "attempts", "last_outcome", "reason"]
    fields = tuple(readonly_fields)
    show_change_link = True

    @admin.display(description="Event")
    def event_status(self, obj: PublisherCallback) -> str:
        return obj.payload.get("status") or obj.payload.get("disposition", "")


class LedgerInline(ReadOnlyTabular):
    """The lead's money: its sale, any return (a credit to the buyer, a debit to the
    publisher) and adjustments, as the ledger holds them."""

    model = LedgerEntry
    fk_name = "lead"
    verbose_name = "ledger entry"
    verbose_name_plural = "ledger entries"
    readonly_fields = [
        "created_at",
        "kind",
        "buyer",
        "publisher",
        "charge_money",
        "payout_money",
        "margin_money",
        "reason",
        "created_by",
    ]
    fields = tuple(readonly_fields)
    ordering = ["created_at", "id"]
    charge_money = money_column("charge", "Buyer charge (− credit)")
    payout_money = money_column("payout", "Publisher payout (− debit)")
    margin_money = money_column("margin", "Margin")

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerEntry]:
        return super().get_queryset(request).select_related("buyer", "publisher", "created_by")


class ReturnInline(ReadOnlyTabular):
    model = Return
    fk_name = "lead"
    readonly_fields = ["created_at", "buyer", "reason", "note", "created_by"]
    fields = tuple(readonly_fields)


@admin.register(Lead)
class LeadAdmin(LeadSearchMixin, ReplayMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "short_lead_id",
        "created_at",
        "vertical",
        "publisher",
        "status",
        "test_lead",
        "list_price_money",
        "list_payout_money",
        "sold_to",
    ]
    list_display_links = None  # the short id is the link
    list_filter = [
        "status",
        "is_test",
        "vertical",
        "publisher",
        ("sold_campaign__buyer", admin.RelatedFieldListFilter),
        ("sold_campaign", admin.RelatedFieldListFilter),
    ]
    list_select_related = ["vertical", "publisher", "sold_campaign"]
    search_fields = ["sub_id"]
    search_help_text = LEAD_SEARCH_HELP
    date_hierarchy = "created_at"
    inlines = [
        EventInline,
        BidInline,
        DeliveryInline,
        LedgerInline,
        ReturnInline,
        DispositionInline,
        CallInline,
        CallbackInline,
    ]
    actions = ["replay"]
    Media = AdminListsMedia
    readonly_fields = [
        "id",
        "vertical",
        "publisher",
        "sub_id",
        "is_test",
        "status",
        "reasons",
        "offer_price_money",
        "offer_expires_at",
        "price_money",
        "payout_money",
        "sold_campaign",
        "price_changes",
        "created_at",
        "posted_at",
        "sold_at",
        "lead_data",
        "personal_data",
        "routing_trace",
    ]
    fields = tuple(readonly_fields)
    offer_price_money = money_column("offer_price", "Offer price (payout offered at ping)")
    price_money = money_column("price", "Price (what the buyer pays)")
    payout_money = money_column("payout", "Payout (what the publisher earns)")
    # Short headings in the list, where width is scarce.
    list_price_money = money_column("price", "Price")
    list_payout_money = money_column("payout", "Payout")

    @admin.action(description="Replay the selected failed leads", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        self.replay_leads(request, list(queryset.filter(status=LeadStatus.FAILED)))

    def get_urls(self) -> list[URLPattern]:
        reveal = path(
            "<path:object_id>/reveal/",
            permitted_view(self.admin_site, self.reveal_view, [REVEAL_PERMISSION]),
            name="leads_lead_reveal",
        )
        return [reveal, replay_url(self, self.replay_view), *super().get_urls()]

    def replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        lead = lead_or_404(object_id)
        return replay_from_page(self, request, lead, change_url(lead))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        lead = context.get("original")
        context["can_replay"] = lead is not None and can_replay(request, lead)
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.display(description="Sold to", ordering="sold_campaign__slug")
    def sold_to(self, obj: Lead) -> str:
        return obj.sold_campaign.slug if obj.sold_campaign else "—"

    @admin.display(description="Test", boolean=True, ordering="is_test")
    def test_lead(self, obj: Lead) -> bool:
        return obj.is_test

    @admin.display(description="Lead", ordering="id")
    def short_lead_id(self, obj: Lead) -> str:
        return short_id(obj.pk, change_url(obj))

    @admin.display(description="Why the price is what it is")
    def price_changes(self, obj: Lead) -> str:
        bids = obj.bids.select_related("campaign__buyer")
        deliveries = obj.deliveries.select_related("campaign__buyer")
        lines = price_story(obj, bids, deliveries, obj.ledger.all())
        return format_html(
            '<ul class="waterfall">{}</ul>',
            format_html_join("", "<li>{}</li>", ((x,) for x in lines)),
        )

    def reveal_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Ask why, record who/which lead/when, then show the personal data in clear
        on a page no cache keeps."""
        lead = Lead.objects.filter(pk=object_id).first() if _is_uuid(object_id) else None
        if lead is None:
            raise Http404("No such lead.")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Personal data of lead {lead.pk}",
            "opts": self.model._meta,
            "original": lead,
            "form": RevealForm(request.POST or None),
            "pii": None,
        }
        if request.method == "POST" and context["form"].is_valid():
            try:
                pii, _ = reveal_pii(
                    lead, user=request.user, reason=context["form"].cleaned_data["reason"]
                )
            except ValueError as exc:
                context["form"].add_error(None, str(exc))
            else:
                context["pii"] = sorted(pii.items())
                return secret_page(request, context, "admin/leads/lead/reveal.html")
        return TemplateResponse(request, "admin/leads/lead/reveal.html", context)

    @admin.display(description="Lead fields")
    def lead_data(self, obj: Lead) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, default=str))

    @admin.display(description="Personal data (masked)")
    def personal_data(self, obj: Lead) -> str:
        if obj.pii_erased_at:
            return "erased"
        # Those with leads.reveal_pii get a "Reveal" button above (change_form.html).
        return format_html("<pre>{}</pre>", json.dumps(mask_fields(obj.pii), indent=2))

    @admin.display(description="Why each campaign was or was not pinged")
    def routing_trace(self, obj: Lead) -> str:
        if not obj.trace:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    t.get("buyer", ""),
                    t.get("campaign", ""),
                    _trace_step(t),
                    _trace_why(t),
                )
                for t in obj.trace
            ),
        )
        return format_html(
            "<table><tr><th>Buyer</th><th>Campaign</th><th>Pinged</th><th>Why</th></tr>{}</table>",
            rows,
        )


class AttemptInline(ReadOnlyTabular):
    model = TransactionLog
    fk_name = "delivery"
    verbose_name = "attempt"
    readonly_fields = ["attempt", "created_at", "outcome", "status_code", "duration_ms", "error"]
    fields = tuple(readonly_fields)
    ordering = ["created_at"]
    show_change_link = True


@admin.register(Delivery)
class DeliveryAdmin(LeadSearchMixin, ReplayMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Every post of a lead to a campaign. ``failed/`` lists the ones that gave up,
    for an account manager to look into and replay."""

    list_display = [
        lead_link,
        "ranked_campaign",
        "status",
        "attempts",
        "last_outcome",
        "reason",
        "next_attempt",
        "updated_at",
    ]
    list_display_links = ["ranked_campaign"]
    list_filter = ["status", "lead__status", "last_outcome", "campaign__buyer"]
    list_select_related = ["campaign"]
    lead_prefix = "lead__"
    search_fields = ["lead__sub_id"]
    search_help_text = LEAD_SEARCH_HELP
    raw_id_fields = ["lead", "bid"]
    date_hierarchy = "updated_at"
    inlines = [AttemptInline]
    actions = ["replay"]
    Media = AdminListsMedia

    def get_urls(self) -> list[URLPattern]:
        failed = path(
            "failed/",
            permitted_view(self.admin_site, self.failed_view, ["leads.view_delivery"]),
            name="leads_delivery_failed",
        )
        return [failed, replay_url(self, self.replay_view), *super().get_urls()]

    @admin.display(description="Rank, campaign", ordering="rank")
    def ranked_campaign(self, obj: Delivery) -> str:
        return f"#{obj.rank} {obj.campaign.slug}"

    @admin.display(description="Next attempt", ordering="next_attempt_at")
    def next_attempt(self, obj: Delivery) -> str:
        # Relative, computed as the page is drawn: a time already past is not "next".
        if obj.status not in (DeliveryStatus.QUEUED, DeliveryStatus.RETRY):
            return "—"
        return format_html(
            '<span title="{}">{}</span>',
            local_time(obj.next_attempt_at),
            relative_time(obj.next_attempt_at) if obj.next_attempt_at else "—",
        )

    def failed_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """The failed-delivery screen: this list, filtered to deliveries that gave up and
        whose lead is still failed (not one a later replay or bidder sold)."""
        changelist = reverse("admin:leads_delivery_changelist")
        return HttpResponseRedirect(
            f"{changelist}?status__exact={DeliveryStatus.FAILED}"
            f"&lead__status__exact={LeadStatus.FAILED}"
        )

    def replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        delivery = delivery_or_404(object_id)
        return replay_from_page(self, request, delivery.lead, change_url(delivery))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        delivery = context.get("original")
        context["can_replay"] = delivery is not None and can_replay(request, delivery.lead)
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.action(
        description="Replay the leads of the selected failed deliveries", permissions=["replay"]
    )
    def replay(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        lead_ids = queryset.filter(status=DeliveryStatus.FAILED).values("lead_id")
        self.replay_leads(request, list(Lead.objects.filter(pk__in=lead_ids)))


@admin.register(TransactionLog)
class TransactionLogAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "campaign",
        "outcome",
        "status_code",
        "duration_ms",
        "is_test",
    ]
    list_filter = ["kind", "outcome", "is_test"]
    list_select_related = ["campaign"]
    search_fields = ["=lead__id", "url"]
    date_hierarchy = "created_at"
    raw_id_fields = ["lead", "delivery"]


class ServiceFormMixin:
    """``add`` shows a plain form whose valid input is handed to a service; the model's
    ``add`` permission gates it (the roles give it to finance)."""

    form_title = ""
    form_intro = ""
    submit_label = "Save"
    service_form: type[Any]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        opts = self.model._meta  # type: ignore[attr-defined]
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = self.service_form(request.POST or None)
        if request.method == "POST" and form.is_valid():
            done = self.perform(request, form)
            if done is not None:
                self.message_user(request, done, messages.SUCCESS)  # type: ignore[attr-defined]
                opts = self.model._meta  # type: ignore[attr-defined]
                return HttpResponseRedirect(
                    reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
                )
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "title": self.form_title,
            "intro": self.form_intro,
            "form": form,
            "submit_label": self.submit_label,
        }
        return TemplateResponse(request, "admin/finance/form.html", context)

    def perform(self, request: HttpRequest, form: Any) -> str | None:
        """Call the service; a message on success, or ``None`` with the form's errors set."""
        raise NotImplementedError


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ServiceFormMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind_shown",
        lead_link,
        "buyer",
        "publisher",
        "charge_money",
        "payout_money",
        "margin_money",
        "reason",
        "created_by",
    ]

    @admin.display(description="Kind", ordering="kind")
    def kind_shown(self, obj: LedgerEntry) -> str:
        """A fallback campaign's sale reads "sale (remnant)": one column, not two."""
        kind = obj.get_kind_display()
        return f"{kind} (remnant)" if obj.remnant else kind

    list_filter = ["kind", "remnant", "buyer", "publisher"]
    list_select_related = ["buyer", "publisher", "created_by"]
    date_hierarchy = "created_at"
    raw_id_fields = ["lead", "reverses"]
    service_form = AdjustmentForm
    Media = AdminListsMedia
    form_title = "Record an adjustment"
    form_intro = (
        "An adjustment moves money outside a sale: a credit or extra charge for a buyer, "
        "a bonus or debit for a publisher. It is a ledger entry with your name and reason."
    )
    submit_label = "Record adjustment"
    charge_money = money_column("charge", "Charge")
    payout_money = money_column("payout", "Payout")
    margin_money = money_column("margin", "Margin")

    def perform(self, request: HttpRequest, form: Any) -> str | None:
        data = form.cleaned_data
        party = data["party"]
        try:
            entry = record_adjustment(
                **{party: data[party]},
                **{"charge" if party == "buyer" else "payout": data["amount"]},
                reason=data["reason"],
                user=request.user,
                at=data.get("dated"),
            )
        except LedgerError as exc:
            form.add_error(None, str(exc))
            return None
        return (
            f"Adjustment of {data['amount']} recorded for {data[party]}, "
            f"dated {entry.created_at:%Y-%m-%d %H:%M:%S}."
        )


@admin.register(Return)
class ReturnAdmin(ServiceFormMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", lead_link, "buyer", "reason", "created_by"]
    list_filter = ["reason", "buyer"]
    list_select_related = ["buyer", "created_by"]
    raw_id_fields = ["lead"]
    service_form = ReturnForm
    Media = AdminListsMedia
    form_title = "Record a return"
    form_intro = (
        "Return a sold lead for its buyer: the sale is reversed for buyer and publisher. "
        "The buyer's return window and return cap apply, as through the API."
    )
    submit_label = "Record return"

    def perform(self, request: HttpRequest, form: Any) -> str | None:
        data = form.cleaned_data
        lead = data["lead"]
        buyer = lead.sold_campaign.buyer
        try:
            record_return(
                lead, buyer=buyer, reason=data["reason"], note=data["note"], user=request.user
            )
        except ReturnRefused as exc:
            form.add_error("lead", exc.message)
            return None
        return f"Lead {lead.pk} returned for {buyer}: {lead.price} credited."


@admin.register(PublisherCallback)
class PublisherCallbackAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Signed status callbacks to publishers, with their attempts in the transaction log."""

    list_display = [
        "created_at",
        "publisher",
        lead_link,
        "event_status",
        "status",
        "attempts",
        "last_outcome",
        "next_attempt_at",
    ]
    list_filter = ["status", "last_outcome", "publisher"]
    list_select_related = ["publisher"]
    Media = AdminListsMedia
    search_fields = ["=lead__id"]
    raw_id_fields = ["lead", "event", "disposition"]
    date_hierarchy = "created_at"

    @admin.display(description="Event")
    def event_status(self, obj: PublisherCallback) -> str:
        return obj.payload.get("status") or obj.payload.get("disposition", "")


@admin.register(PiiReveal)
class PiiRevealAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Every time someone saw a lead's personal data in clear: who, which lead, when, why."""

    list_display = ["at", "user", lead_link, "reason"]
    list_filter = ["user"]
    list_select_related = ["user"]
    Media = AdminListsMedia
    search_fields = ["=lead__id", "user__username", "reason"]
    date_hierarchy = "at"
    raw_id_fields = ["lead"]
    fields = ["at", "user", "lead", "reason"]
    readonly_fields = ["at", "user", "lead", "reason"]


UNPINGED_BIDS = frozenset({"fixed price, bids unpinged", "fallback: fixed price, not pinged"})


def _trace_step(entry: dict[str, Any]) -> str:
    if "disposition" in entry:
        return "disposition"
    if "check" in entry:  # a check on the lead (consent, quality signals): no campaign's
        return "check"
    if entry.get("reason") in UNPINGED_BIDS:  # it bid its fixed price without a ping
        return "bid, not pinged"
    return "pinged" if entry.get("pinged") else "skipped"


def _trace_why(entry: dict[str, Any]) -> str:
    """The reason, with the figures expected-revenue routing ranked by, or what a buyer
    reported."""
    if "disposition" in entry:
        value = f" worth {entry['value']}" if entry.get("value") else ""
        return f"{entry['disposition']}{value} at {entry.get('at', '')} (via {entry.get('via')})"
    ranking = entry.get("ranking")
    if not ranking:
        return str(entry.get("reason", ""))
    figures = (
        f"bid {ranking['bid']} × weight {ranking['weight']} (acceptance "
        f"{ranking['acceptance']}, non-return {ranking['non_return']}) = expected "
        f"{ranking['expected']}"
    )
    return "; ".join(x for x in (str(entry.get("reason", "")), figures) if x)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


from . import admin_compliance  # noqa: E402, F401  (the compliance screens)
