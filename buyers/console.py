"""The admin's test console: send a sample lead to one of a campaign's endpoints.

It builds the request with ``buyers.calls.prepare_call`` from the compiled campaign
the ping path uses, so the URL, headers and body shown are exactly what production
would send (secrets masked on screen), and reads the answer with the endpoint's
response rules as an auction or a delivery would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from plumbing.fields import FieldSpec, FieldType, Stage, vertical_schema

from .auth import masked_headers
from .calls import PreparedCall, deliver, prepare_call, read_response
from .choices import PricingModel
from .compiled import CampaignInfo, EndpointInfo, compile_campaign
from .console_checks import pre_checks
from .forms import TestLeadForm
from .mapping import BID_SOURCES, SPECIAL_SOURCES
from .models import Campaign
from .response_rules import Answer
from .transport import OutboundResponse

MAX_SHOWN_BYTES = 20_000

SAMPLE_BY_NAME: dict[str, Any] = {
    "first_name": "Ann",
    "last_name": "Lee",
    "address": "12 Elm Street",
    "city": "Dallas",
    "user_agent": "Mozilla/5.0 (Switchyard test console)",
    "consent_text": "I agree to be contacted by phone and email.",
    "trustedform_cert_url": "https://cert.trustedform.com/0123456789abcdef",
    "jornaya_leadid": "01234567-89AB-CDEF-0123-456789ABCDEF",
}
SAMPLE_BY_TYPE: dict[str, Any] = {
    FieldType.ZIP: "75001",
    FieldType.STATE: "TX",
    FieldType.PHONE: "+12145550143",
    FieldType.EMAIL: "ann.lee@example.com",
    FieldType.DATE: "1985-04-12",
    FieldType.BOOLEAN: True,
    FieldType.INTEGER: 3,
    FieldType.DECIMAL: "120.50",
    FieldType.URL: "https://example.com/quote",
    FieldType.IP: "203.0.113.7",
    FieldType.STRING: "sample",
}


@dataclass(slots=True)
class ConsoleCall:
    """One console run: the request as built and, once sent, the answer as read."""

    kind: str
    test: bool
    prepared: PreparedCall | None = None
    dropped: list[str] = field(default_factory=list)
    error: str = ""
    response: OutboundResponse | None = None
    answer: Answer | None = None

    @property
    def shown_headers(self) -> dict[str, str]:
        if self.prepared is None or self.prepared.request is None:
            return {}
        return masked_headers(self.prepared.request.headers, self.prepared.endpoint.credential)

    @property
    def body_text(self) -> str:
        if self.prepared is None or self.prepared.request is None:
            return ""
        return _text(self.prepared.request.body)

    @property
    def response_text(self) -> str:
        return _text(self.response.body) if self.response is not None else ""


def _text(body: bytes) -> str:
    text = body[:MAX_SHOWN_BYTES].decode("utf-8", "replace")
    return text + ("\n… (cut)" if len(body) > MAX_SHOWN_BYTES else "")


def sample_lead(schema: dict[str, FieldSpec]) -> dict[str, Any]:
    """A plausible lead for this schema, with the special sources a mapping may read."""
    lead: dict[str, Any] = {}
    for name, spec in schema.items():
        if spec.type == FieldType.CHOICE and spec.choices:
            lead[name] = spec.choices[0]
        elif spec.type == FieldType.DATETIME:
            lead[name] = timezone.now().replace(microsecond=0).isoformat()
        else:
            lead[name] = SAMPLE_BY_NAME.get(name, SAMPLE_BY_TYPE.get(spec.type, "sample"))
    lead.update(
        {
            "lead.id": "00000000-0000-4000-8000-000000000000",
            "bid.reference": "TEST-REF-1",
            "bid.price": "10.00",
            "publisher.id": "0",
            "sub_id": "test-console",
            "lead.created_at": timezone.now().replace(microsecond=0).isoformat(),
        }
    )
    return lead


def call_values(
    schema: dict[str, FieldSpec], kind: str, lead: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """What the mapping reads, and what was left out: a ping gets ping-stage fields and
    the special sources known before any bid, as ``exchange.auction.ping_values``."""
    if kind != Stage.PING:
        return dict(lead), []
    keep = {name for name, spec in schema.items() if spec.stage == Stage.PING}
    keep |= SPECIAL_SOURCES - BID_SOURCES
    values = {k: v for k, v in lead.items() if k in keep}
    return values, sorted(k for k in lead if k not in keep)


def build_call(
    campaign: CampaignInfo, schema: dict[str, FieldSpec], target: str, lead: dict
) -> ConsoleCall:
    """The request production would send for ``lead`` to ``target`` (e.g. ``post-test``)."""
    kind, _, variant = target.partition("-")
    call = ConsoleCall(kind, variant == "test")
    endpoint: EndpointInfo | None = getattr(campaign, kind, None)
    if endpoint is None:
        call.error = (
            campaign.not_live_reason
            if campaign.not_live_reason.startswith("misconfigured")
            else f"This campaign has no {kind} endpoint."
        )
        return call
    if call.test and not endpoint.test_url:
        call.error = f"The {kind} endpoint has no test URL."
        return call
    values, call.dropped = call_values(schema, kind, lead)
    call.prepared = prepare_call(endpoint, values, test=call.test, idempotency_key="test-console")
    call.error = call.prepared.error
    return call


def send_call(call: ConsoleCall) -> None:
    """Send the built request and read the answer with the endpoint's response rules."""
    if call.prepared is None or call.prepared.request is None:
        return
    call.response = deliver(call.prepared.request)
    call.answer = read_response(call.prepared.endpoint, call.response)


def _price_preview(campaign: CampaignInfo, lead: dict[str, Any]) -> dict[str, Any] | None:
    """A fixed-price campaign's bid for this lead, its modifiers applied (as the auction)."""
    if campaign.pricing_model != PricingModel.FIXED or campaign.fixed_price is None:
        return None
    price, applied = campaign.price_for(lead)
    return {"base": campaign.fixed_price, "price": price, "applied": applied}


def console_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str
) -> HttpResponse:
    """``/admin/buyers/campaign/<id>/test-lead/``: the form, the request, the answer."""
    campaign = (
        Campaign.objects.select_related("vertical", "buyer")
        .prefetch_related("endpoints__credential", "vertical__fields")
        .filter(pk=object_id)
        .first()
    )
    if campaign is None:
        raise Http404("No such campaign.")
    if not model_admin.has_change_permission(request, campaign):
        raise PermissionDenied
    # Compiled as the configuration cache compiles it, from what is saved now.
    compiled = compile_campaign(campaign)
    schema = vertical_schema(campaign.vertical.fields.all())

    call = None
    lead: dict[str, Any] | None = None
    price_preview = None
    if request.method == "POST":
        form = TestLeadForm(request.POST)
        if form.is_valid():
            lead = form.cleaned_data["lead"]
            price_preview = _price_preview(compiled, lead)
            call = build_call(compiled, schema, form.cleaned_data["target"], lead)
            if request.POST.get("action") == "send":
                send_call(call)
    else:
        initial_target = "ping" if compiled.ping is not None else "post"
        lead = sample_lead(schema)
        form = TestLeadForm(initial={"target": initial_target, "lead": json.dumps(lead, indent=2)})
    # Before anything is sent: would this lead reach the campaign at all, rule by rule?
    checks = pre_checks(campaign, compiled, lead, timezone.now()) if lead is not None else []
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Send a test lead to {campaign}",
        "opts": model_admin.model._meta,
        "original": campaign,
        "campaign": campaign,
        "compiled": compiled,
        "form": form,
        "call": call,
        "checks": checks,
        "checks_failed": sum(not check.passed for check in checks),
        "price_preview": price_preview,
        "sent": call is not None and call.response is not None,
    }
    return TemplateResponse(request, "admin/buyers/campaign/test_lead.html", context)
