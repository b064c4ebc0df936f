"""The account manager's screens for what the exchange keeps about buyers' endpoints:
circuit breakers (with their history, and a hand to close them) and the versions of
each endpoint's mapping and response rules."""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from .circuits import close_circuits
from .models import (
    CircuitEvent,
    CircuitState,
    MappingVersion,
)


@admin.register(CircuitState)
class CircuitStateAdmin(admin.ModelAdmin):
    """Every endpoint's breaker, shared by all processes, with its recent history."""

    list_display = [
        "endpoint",
        "status",
        "consecutive_failures",
        "opened_at",
        "retry_at",
        "updated_at",
    ]
    list_filter = ["status", "endpoint__kind"]
    list_select_related = ["endpoint__campaign"]
    search_fields = ["endpoint__campaign__slug", "endpoint__url"]
    readonly_fields = [
        "endpoint",
        "status",
        "consecutive_failures",
        "opened_at",
        "retry_at",
        "updated_at",
        "history",
    ]
    fields = tuple(readonly_fields)
    actions = ["close_now"]
    HISTORY_ROWS = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_close_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("buyers.change_circuitstate")

    @admin.display(description="History (newest first)")
    def history(self, obj: CircuitState) -> str:
        from django.utils.html import format_html

        events = CircuitEvent.objects.filter(endpoint_id=obj.endpoint_id)[: self.HISTORY_ROWS]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            ((e.at, e.from_status, e.to_status, e.reason) for e in events),
        )
        return format_html("<table><tr><th>At</th><th>Move</th><th>Why</th></tr>{}</table>", rows)

    @admin.action(description="Close the selected circuits now", permissions=["close"])
    def close_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username() or "an account manager"
        self.message_user(request, f"Closed {close_circuits(queryset, by=by)} circuit(s).")


@admin.register(MappingVersion)
class MappingVersionAdmin(admin.ModelAdmin):
    """The change history of endpoints' mappings and response rules: who, when, what."""

    list_display = ["endpoint", "number", "changed_by", "changed_at"]
    list_filter = ["endpoint__kind", "endpoint__campaign__buyer"]
    list_select_related = ["endpoint__campaign", "changed_by"]
    search_fields = ["endpoint__campaign__slug"]
    date_hierarchy = "changed_at"
    readonly_fields = [
        "endpoint",
        "number",
        "changed_by",
        "changed_at",
        "changes",
        "mapping",
        "response",
    ]
    fields = tuple(readonly_fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history is not edited

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        # The endpoint inline links here filtered to one endpoint.
        return lookup == "endpoint" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="Changes from the previous version")
    def changes(self, obj: MappingVersion) -> str:
        previous = (
            MappingVersion.objects.filter(endpoint_id=obj.endpoint_id, number__lt=obj.number)
            .order_by("-number")
            .first()
        )
        before = _pretty(previous) if previous else []
        diff = difflib.unified_diff(
            before,
            _pretty(obj),
            f"version {previous.number}" if previous else "nothing",
            f"version {obj.number}",
            lineterm="",
        )
        return format_html("<pre>{}</pre>", "\n".join(diff) or "no change")


def _pretty(version: MappingVersion) -> list[str]:
    document = {"mapping": version.mapping, "response": version.response}
    return json.dumps(document, indent=2, ensure_ascii=False).splitlines()
