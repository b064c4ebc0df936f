"""Finding leads in the admin: the search box of the lead and delivery lists, and a
row's lead shown as its short id."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from plumbing.admin_views import short_id

from .selectors import lead_lookup


@admin.display(description="Lead", ordering="lead_id")
def lead_link(obj: Any) -> str:
    """A row's lead as its short id, linked to the lead's page."""
    if obj.lead_id is None:
        return "—"
    return short_id(obj.lead_id, reverse("admin:leads_lead_change", args=[obj.lead_id]))


LEAD_SEARCH_HELP = "A phone number, an email, a lead id (or its first 4+ characters) or a sub_id."


class LeadSearchMixin:
    """The search box finds leads by phone, email, id or its first characters, or sub_id
    (``leads.selectors.lead_lookup``), never by decrypting. The admin using it names a
    ``search_fields`` (which shows the box) and ``search_help_text = LEAD_SEARCH_HELP``."""

    lead_prefix = ""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(lead_lookup(search_term, self.lead_prefix)), False
