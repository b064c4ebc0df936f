"""Admin forms that refuse a campaign or endpoint the exchange could not run.

Filters and schedules are checked on the campaign form, against the fields of the
vertical chosen in that same form; mappings are checked by the endpoint formset,
which knows the campaign's vertical and each endpoint's kind (a ping mapping may not
read personal or post-stage fields).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms
from django.forms.models import BaseInlineFormSet

from . import services
from .choices import AuthType
from .models import Campaign, Credential, Endpoint
from .widgets import PrettyJSONField, RuleEditor

FILTERS_HELP = (
    "All of these must pass. A rule: "
    '{"field": "state", "op": "in", "value": ["TX", "OK"]}; a group: {"any": [rules...]}. '
    "Operators: eq, ne, in, not_in, gt, gte, lt, lte, between, contains, starts_with, "
    "regex, exists, not_exists, age_between. Fields: the vertical's, plus publisher "
    "(its slug) and sub_id for allow/deny lists, and the lead-quality signals "
    "quality.disposable_email, quality.velocity_ip, quality.velocity_phone, "
    "quality.phone_line_type, quality.ip_country, quality.ip_region, quality.ip_matches_state."
)
SCHEDULE_HELP = (
    'Open hours in the buyer\'s timezone, e.g. {"mon-fri": "08:00-20:00", '
    '"sat": ["09:00-12:00", "14:00-18:00"]}. Days not listed are closed; empty: always open.'
)
MAPPING_HELP = (
    "Ordered rules building the body: "
    '{"to": "zip_code", "from": "zip"}, {"to": "source", "value": "sy"}, '
    '{"to": "name", "template": "{first_name} {last_name}"}, '
    '{"to": "first", "from": "first_name", "split": " ", "index": 0}, '
    '{"to": "own", "from": "home", "map": {"own": "Y", "rent": "N"}, "default": "U"}; any '
    'with "transforms": ["digits", {"truncate": 5}, {"date": "%m/%d/%Y"}] and '
    '"when": {"field": ..., "op": ..., "value": ...}. Dotted targets (contact.email or '
    "lead/ref) nest. Special sources: lead.id, bid.reference, bid.price, publisher.id, "
    "sub_id, lead.created_at. Empty: every field as is. A ping never carries personal data."
)
RESPONSE_HELP = (
    'How to read the answer: {"accepted": {"path": "result", "equals": ["accepted"]}, '
    '"price": {"path": "bid"}, "reference": {"path": "bid_id"}, "reason": {"path": "error"}}. '
    'accepted may also be {"status": "200-299"}, {"contains": "OK"} or {"regex": "..."}. '
    "Paths: a.b.0.c in JSON, a/b/c in XML; price and the others also take a regex."
)
HEADERS_HELP = 'Extra headers, e.g. {"X-Source": "switchyard"}. Credentials add their own.'
BACKOFF_HELP = "Seconds to wait before each retry, e.g. [2, 4, 8]; empty: 2, 4, 8, 16, 32."
# Prices the admin shows: money to the cent (the fields keep 4 places for per-lead prices).
MONEY_FIELDS = ("fixed_price", "min_bid", "max_bid")
CENT = Decimal("0.01")


def rule_field(kind: str, empty: type, help_text: str, rows: int = 8) -> PrettyJSONField:
    """A rule box: pretty-printed JSON, structured rows in the browser, ``empty()``
    (an empty list or table) when left blank."""
    return PrettyJSONField(
        required=False,
        widget=RuleEditor(kind, rows=rows),
        help_text=help_text,
        empty=empty,
        initial=empty,  # a new campaign's box starts as [] or {}, as the model's default
    )


def with_schemas(form: forms.BaseForm, names: tuple[str, ...], vertical: Any = None) -> None:
    """Hand the field pickers of ``names`` every vertical's fields."""
    schemas = services.field_lists()
    for name in names:
        widget = form.fields[name].widget
        if isinstance(widget, RuleEditor):
            widget.set_schemas(schemas, vertical)


def money_initial(form: forms.ModelForm) -> None:
    """Show stored prices with 2 decimals (``2.00``, not ``2.0000``) when that loses
    nothing; a price with more places is shown whole."""
    for name in MONEY_FIELDS:
        value = form.initial.get(name)
        if isinstance(value, Decimal) and value == value.quantize(CENT):
            form.initial[name] = value.quantize(CENT)


def _json_problems(problems: list[str]) -> forms.ValidationError:
    return forms.ValidationError([forms.ValidationError(p) for p in problems])


class CampaignForm(forms.ModelForm):
    """The campaign change form, with its targeting rules checked on save."""

    filters = rule_field("filters", list, FILTERS_HELP)
    schedule = rule_field("schedule", dict, SCHEDULE_HELP, rows=6)
    retry_backoff = rule_field("backoff", list, BACKOFF_HELP, rows=3)

    class Meta:
        model = Campaign
        fields = ["filters", "schedule", "retry_backoff", "price_modifiers", "throttle"]
        widgets = {
            "price_modifiers": forms.Textarea(attrs={"rows": 3, "cols": 100}),
            "throttle": forms.Textarea(attrs={"rows": 1, "cols": 60}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        with_schemas(self, ("filters",))
        money_initial(self)

    def clean_price_modifiers(self) -> Any:
        return self.cleaned_data.get("price_modifiers") or []

    def clean_throttle(self) -> Any:
        return self.cleaned_data.get("throttle") or {}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        vertical = cleaned.get("vertical")
        if "filters" in cleaned and vertical is not None:
            problems = services.filter_problems(cleaned["filters"], services.schema_of(vertical))
            if problems:
                self.add_error("filters", _json_problems(problems))
        if cleaned.get("price_modifiers") and vertical is not None:
            schema = services.schema_of(vertical)
            problems = services.modifier_problems(cleaned["price_modifiers"], schema)
            if problems:
                self.add_error("price_modifiers", _json_problems(problems))
        if "schedule" in cleaned:
            problems = services.schedule_problems(cleaned["schedule"])
            if problems:
                self.add_error("schedule", _json_problems(problems))
        return cleaned


class EndpointForm(forms.ModelForm):
    """One endpoint inline: headers and response rules checked on their own."""

    mapping = rule_field("mapping", list, MAPPING_HELP)
    response = rule_field("response", dict, RESPONSE_HELP, rows=6)
    headers = rule_field("headers", dict, HEADERS_HELP, rows=3)

    class Meta:
        model = Endpoint
        fields = ["mapping", "response", "headers"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        campaign = getattr(self.instance, "campaign", None) if self.instance.campaign_id else None
        with_schemas(self, ("mapping",), campaign.vertical_id if campaign else None)

    def clean_headers(self) -> Any:
        headers = self.cleaned_data.get("headers")
        problems = services.header_problems(headers if headers is not None else {})
        if problems:
            raise _json_problems(problems)
        return headers or {}

    def clean_response(self) -> Any:
        response = self.cleaned_data.get("response")
        problems = services.response_problems(response)
        if problems:
            raise _json_problems(problems)
        return response or {}


class EndpointFormSet(BaseInlineFormSet):
    """Checks each mapping against the campaign's vertical and the endpoint's kind."""

    def clean(self) -> None:
        super().clean()
        campaign = self.instance
        vertical = getattr(campaign, "vertical", None) if campaign.vertical_id else None
        schema = services.schema_of(vertical) if vertical is not None else None
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            if schema is not None and "mapping" in data and data.get("kind"):
                problems = services.mapping_problems(data["mapping"], schema, data["kind"])
                problems += services.target_problems(data["mapping"], data.get("format", ""))
                if problems:
                    form.add_error("mapping", _json_problems(problems))
            credential = data.get("credential")
            if (
                credential is not None
                and campaign.buyer_id
                and credential.buyer_id != campaign.buyer_id
            ):
                form.add_error("credential", "This credential belongs to another buyer.")


class CredentialForm(forms.ModelForm):
    """A buyer's credential. The secret is write-only: the page never shows it, and
    leaving the box empty keeps the stored one."""

    REQUIRED = {
        AuthType.BASIC: ("username",),
        AuthType.OAUTH2: ("token_url", "client_id"),
    }

    secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Header value, password, bearer token, OAuth2 client secret or HMAC key. "
        "Stored encrypted and never shown again; leave empty to keep the stored one.",
    )

    class Meta:
        model = Credential
        fields = ["name", "type", "header_name", "username", "token_url", "client_id", "scope"]
        fields += ["secret", "secret_env"]

    def clean_secret(self) -> str:
        typed = self.cleaned_data.get("secret") or ""
        return typed or (self.instance.secret if self.instance.pk else "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in self.REQUIRED.get(cleaned.get("type", ""), ()):
            if not cleaned.get(name):
                self.add_error(name, "This credential type needs it.")
        return cleaned


class CopyCampaignForm(forms.Form):
    """The name and slug of a campaign's copy."""

    name = forms.CharField(max_length=100)
    slug = forms.SlugField(max_length=50)

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Campaign.objects.filter(slug=slug).exists():
            raise forms.ValidationError("A campaign already has this slug.")
        return slug


class TestLeadForm(forms.Form):
    """The test console: where to send, and the sample lead (flat JSON)."""

    TARGETS = [
        ("ping", "Ping endpoint"),
        ("post", "Post endpoint"),
        ("ping-test", "Ping endpoint, test URL"),
        ("post-test", "Post endpoint, test URL"),
    ]

    target = forms.ChoiceField(choices=TARGETS, initial="ping")
    lead = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 18, "cols": 80, "class": "vLargeTextField"}),
        help_text="Lead fields and special sources (lead.id, bid.reference...), as JSON. "
        "A ping keeps only ping-stage fields, exactly as in production.",
    )

    def clean_lead(self) -> dict[str, Any]:
        try:
            lead = json.loads(self.cleaned_data["lead"])
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(lead, dict):
            raise forms.ValidationError('Give a JSON object, e.g. {"zip": "75001"}.')
        return lead
