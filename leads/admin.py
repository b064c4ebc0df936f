"""Leads, deliveries, the transaction log and the ledger: read-only screens.

The one write here is the replay of failed leads, an action that calls a service.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from plumbing.pii import mask_fields

from .choices import DeliveryStatus, LeadStatus
from .delivery import replay_lead
from .models import (
    Bid,
    Delivery,
    Lead,
    LeadEvent,
    LedgerEntry,
    PublisherCallback,
    Return,
    TransactionLog,
)


class ReadOnlyMixin:
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
    readonly_fields = ["rank", "campaign", "outcome", "price", "reference", "latency_ms", "reason"]
    fields = tuple(readonly_fields)
    ordering = ["rank"]


class DeliveryInline(ReadOnlyTabular):
    model = Delivery
    readonly_fields = [
        "rank",
        "campaign",
        "status",
        "price",
        "attempts",
        "last_outcome",
        "next_attempt_at",
        "reason",
    ]
    fields = tuple(readonly_fields)


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
        return obj.payload.get("status", "")


@admin.register(Lead)
class LeadAdmin(ReplayMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "vertical",
        "publisher",
        "status",
        "is_test",
        "price",
        "payout",
        "sold_campaign",
    ]
    list_filter = ["status", "is_test", "vertical", "publisher"]
    list_select_related = ["vertical", "publisher", "sold_campaign"]
    search_fields = ["=id", "sub_id"]
    date_hierarchy = "created_at"
    inlines = [EventInline, BidInline, DeliveryInline, CallInline, CallbackInline]
    actions = ["replay"]
    readonly_fields = [
        "id",
        "vertical",
        "publisher",
        "sub_id",
        "is_test",
        "status",
        "reasons",
        "offer_price",
        "offer_expires_at",
        "price",
        "payout",
        "sold_campaign",
        "created_at",
        "posted_at",
        "sold_at",
        "lead_data",
        "personal_data",
        "routing_trace",
    ]
    fields = tuple(readonly_fields)

    @admin.action(description="Replay the selected failed leads", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        self.replay_leads(request, list(queryset.filter(status=LeadStatus.FAILED)))

    @admin.display(description="Lead fields")
    def lead_data(self, obj: Lead) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, default=str))

    @admin.display(description="Personal data (masked)")
    def personal_data(self, obj: Lead) -> str:
        if obj.pii_erased_at:
            return "erased"
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
                    "pinged" if t.get("pinged") else "skipped",
                    t.get("reason", ""),
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
class DeliveryAdmin(ReplayMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Every post of a lead to a campaign. ``failed/`` lists the ones that gave up,
    for an account manager to look into and replay."""

    list_display = [
        "lead",
        "campaign",
        "rank",
        "status",
        "attempts",
        "last_outcome",
        "reason",
        "next_attempt_at",
        "updated_at",
    ]
    list_filter = ["status", "last_outcome", "campaign__buyer"]
    list_select_related = ["campaign"]
    search_fields = ["=lead__id"]
    raw_id_fields = ["lead", "bid"]
    date_hierarchy = "updated_at"
    inlines = [AttemptInline]
    actions = ["replay"]

    def get_urls(self) -> list[URLPattern]:
        failed = path(
            "failed/",
            self.admin_site.admin_view(self.failed_view),
            name="leads_delivery_failed",
        )
        return [failed, *super().get_urls()]

    def failed_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """The failed-delivery screen: this list, filtered to deliveries that gave up."""
        changelist = reverse("admin:leads_delivery_changelist")
        return HttpResponseRedirect(f"{changelist}?status__exact={DeliveryStatus.FAILED}")

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


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "buyer",
        "publisher",
        "charge",
        "payout",
        "margin",
        "reason",
    ]
    list_filter = ["kind", "buyer", "publisher"]
    list_select_related = ["buyer", "publisher"]
    date_hierarchy = "created_at"
    raw_id_fields = ["lead", "reverses"]


@admin.register(Return)
class ReturnAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "lead", "buyer", "reason", "created_by"]
    list_filter = ["reason", "buyer"]
    list_select_related = ["buyer", "created_by"]
    raw_id_fields = ["lead"]


@admin.register(PublisherCallback)
class PublisherCallbackAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Signed status callbacks to publishers, with their attempts in the transaction log."""

    list_display = [
        "created_at",
        "publisher",
        "lead",
        "event_status",
        "status",
        "attempts",
        "last_outcome",
        "next_attempt_at",
    ]
    list_filter = ["status", "last_outcome", "publisher"]
    list_select_related = ["publisher"]
    search_fields = ["=lead__id"]
    raw_id_fields = ["lead", "event"]
    date_hierarchy = "created_at"

    @admin.display(description="Event")
    def event_status(self, obj: PublisherCallback) -> str:
        return obj.payload.get("status", "")


from . import admin_compliance  # noqa: E402, F401  (the compliance screens)
