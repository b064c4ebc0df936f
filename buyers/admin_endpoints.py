"""The account manager's screens for what the exchange keeps about buyers' endpoints:
circuit breakers (with their history, and a hand to close them) and the versions of
each endpoint's mapping and response rules."""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from plumbing.admin_views import AdminListsMedia, local_time, permitted_view, relative_time

from .choices import CircuitStatus
from .circuits import close_circuits
from .models import (
    CircuitEvent,
    CircuitState,
    Endpoint,
    MappingVersion,
)

CLOSE_CIRCUIT_PERMISSION = "buyers.change_circuitstate"


def next_probe(state: CircuitState) -> str:
    """When an open circuit lets one call through, as of this page's drawing: a time
    already past means the probe goes with the endpoint's next call."""
    if state.status == CircuitStatus.CLOSED:
        return "—"
    if state.retry_at is None:
        return "probing now" if state.status == CircuitStatus.HALF_OPEN else "—"
    if state.retry_at <= timezone.now():
        return f"due since {local_time(state.retry_at)}: with the next call"
    return f"{relative_time(state.retry_at)} ({local_time(state.retry_at)})"


class CircuitButtonMixin:
    """An endpoint's page: a hint when its circuit is not closed, and a "close circuit"
    button (a POST, CSRF-checked by the admin, for ``buyers.change_circuitstate``) that
    does what the circuit list's action does, leaving the same history row."""

    def get_urls(self) -> list[URLPattern]:
        model_admin: Any = self
        close = path(
            "<path:object_id>/close-circuit/",
            permitted_view(
                model_admin.admin_site,
                require_POST(self.close_circuit_view),
                [CLOSE_CIRCUIT_PERMISSION],
            ),
            name="buyers_endpoint_close_circuit",
        )
        return [close, *super().get_urls()]  # type: ignore[misc]

    def close_circuit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        model_admin: Any = self
        endpoint = Endpoint.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if endpoint is None:
            raise Http404("No such endpoint.")
        by = request.user.get_username() or "an account manager"
        closed = close_circuits(CircuitState.objects.filter(endpoint=endpoint), by=by)
        if closed:
            model_admin.log_change(request, endpoint, f"Closed the circuit by hand ({by}).")
            model_admin.message_user(request, "Circuit closed: calls go to this endpoint again.")
        else:
            model_admin.message_user(request, "The circuit was already closed.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:buyers_endpoint_change", args=[endpoint.pk]))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        endpoint = context.get("original")
        state = CircuitState.objects.filter(endpoint=endpoint).first() if endpoint else None
        if state is not None and state.status != CircuitStatus.CLOSED:
            context["circuit"] = state
            context["circuit_opened"] = local_time(state.opened_at)
            context["circuit_next_probe"] = next_probe(state)
            context["can_close_circuit"] = request.user.has_perm(CLOSE_CIRCUIT_PERMISSION)
        return super().render_change_form(request, context, *args, **kwargs)  # type: ignore[misc]


@admin.register(CircuitState)
class CircuitStateAdmin(admin.ModelAdmin):
    """Every endpoint's breaker, shared by all processes, with its recent history."""

    list_display = [
        "endpoint",
        "status",
        "consecutive_failures",
        "opened_at",
        "next_probe_at",
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
    Media = AdminListsMedia

    @admin.display(description="Next probe", ordering="retry_at")
    def next_probe_at(self, obj: CircuitState) -> str:
        return next_probe(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_close_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("buyers.change_circuitstate")

    @admin.display(description="History (newest first)")
    def history(self, obj: CircuitState) -> str:
        events = CircuitEvent.objects.filter(endpoint_id=obj.endpoint_id)[: self.HISTORY_ROWS]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            ((local_time(e.at), e.from_status, e.to_status, e.reason) for e in events),
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
