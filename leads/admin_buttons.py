"""The replay button of a lead's and a delivery's pages: a POST (CSRF-checked by the
admin), allowed to whoever may replay from the lists (``leads.change_delivery``: account
managers), calling the same service and leaving the same trail: the lead's timeline says
"replayed by <user>", and the admin's history of the lead records the click."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from plumbing.admin_views import permitted_view

from .choices import LeadStatus
from .delivery import replay_lead
from .models import Delivery, Lead

REPLAY_PERMISSION = "leads.change_delivery"


def replay_url(model_admin: ModelAdmin, view: Any) -> URLPattern:
    opts = model_admin.model._meta
    return path(
        "<path:object_id>/replay/",
        permitted_view(model_admin.admin_site, require_POST(view), [REPLAY_PERMISSION]),
        name=f"{opts.app_label}_{opts.model_name}_replay",
    )


def replay_from_page(
    model_admin: ModelAdmin, request: HttpRequest, lead: Lead, back_to: str
) -> HttpResponse:
    """Replay ``lead`` if it is still failed, say what happened, and go back to the page."""
    by = request.user.get_username() or "an account manager"
    if replay_lead(lead, by=by):
        model_admin.log_change(request, lead, f"Replayed the lead from its page ({by}).")
        model_admin.message_user(
            request, f"Lead {lead.pk} replayed: it will be delivered shortly.", messages.SUCCESS
        )
    else:
        model_admin.message_user(
            request,
            f"Lead {lead.pk} was not replayed: it is {lead.get_status_display()}, not failed "
            "(already replayed, or sold since).",
            messages.WARNING,
        )
    return HttpResponseRedirect(back_to)


def lead_or_404(object_id: str) -> Lead:
    lead = Lead.objects.filter(pk=object_id).first() if _is_uuid(object_id) else None
    if lead is None:
        raise Http404("No such lead.")
    return lead


def delivery_or_404(object_id: str) -> Delivery:
    delivery = (
        Delivery.objects.select_related("lead").filter(pk=object_id).first()
        if object_id.isdigit()
        else None
    )
    if delivery is None:
        raise Http404("No such delivery.")
    return delivery


def change_url(obj: Lead | Delivery) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def can_replay(request: HttpRequest, lead: Lead) -> bool:
    return lead.status == LeadStatus.FAILED and request.user.has_perm(REPLAY_PERMISSION)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
