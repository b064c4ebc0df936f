"""Writing the whole configuration as the YAML of SPEC §9.

Keys holding a model's default are left out so a file reads like the SPEC example;
import gives a missing key that same default, so export → import → export is stable.
Secrets never appear: credentials say which environment variable holds theirs, and
publisher and buyer keys are listed by name and prefix.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import yaml
from django.db import models

from buyers.models import Buyer, Campaign, Cap, Credential, Endpoint
from exchange.models import Publisher, Vertical

from .changes import decimal_text, same
from .parse import (
    AUTH_FIELDS,
    AUTH_SECRET,
    BUYER_KEYS,
    CAMPAIGN_KEYS,
    PUBLISHER_KEYS,
    VERTICAL_KEYS,
)
from .reader import at
from .sections import SECTIONS

# Always written, even at their defaults: what the SPEC example shows for every object.
ALWAYS = {
    Vertical: {"name", "routing"},
    Publisher: {"name", "floor"},
    Buyer: {"name", "timezone", "return_window_days"},
    Campaign: {"priority"},
    Endpoint: {"url", "format", "timeout_ms"},
}


class Flow(dict[str, Any]):
    """A table written on one line, as the SPEC writes rules: ``{to: zip_code, from: zip}``."""


class FlowList(list[Any]):
    """A short list written on one line: ``[127.0.0.0/8]``."""


class Money(str):
    """A decimal amount, written quoted (``"2.00"``) so YAML never reads it as a float."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    def choose_scalar_style(self) -> str:
        # Double quotes wherever quotes are needed, as the SPEC writes "08:00-20:00".
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


_Dumper.add_representer(
    Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)
_Dumper.add_representer(
    FlowList, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)
_Dumper.add_representer(
    Money, lambda d, data: d.represent_scalar("tag:yaml.org,2002:str", str(data), style='"')
)


def dump_yaml(document: dict[str, Any]) -> str:
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def export_document() -> tuple[dict[str, Any], list[str]]:
    """The configuration as a document, and warnings about secrets left behind."""
    warnings: list[str] = []
    verticals = [_vertical(v) for v in Vertical.objects.prefetch_related("fields").order_by("slug")]
    publishers = [
        _publisher(p) for p in Publisher.objects.prefetch_related("keys").order_by("slug")
    ]
    campaigns = Campaign.objects.select_related("vertical").prefetch_related(
        models.Prefetch("endpoints", Endpoint.objects.select_related("credential")),
        models.Prefetch("caps", Cap.objects.order_by("id")),
    )
    buyers = Buyer.objects.prefetch_related(
        models.Prefetch("campaigns", campaigns.order_by("slug")),
        models.Prefetch("caps", Cap.objects.filter(campaign=None).order_by("id")),
        "keys",
    ).order_by("slug")
    document: dict[str, Any] = {}
    for key, items in (
        ("verticals", verticals),
        ("publishers", publishers),
        ("buyers", [_buyer(b, at("buyers", i), warnings) for i, b in enumerate(buyers)]),
    ):
        if items:
            document[key] = items
    for key, section in SECTIONS.items():
        exported = section.export()
        if exported:
            document[key] = exported
    return document, warnings


def _plain(instance: models.Model, keys: tuple[str, ...]) -> dict[str, Any]:
    """The fields of ``keys`` that differ from their defaults (or are always shown)."""
    always = ALWAYS.get(type(instance), set())
    out: dict[str, Any] = {}
    for key in keys:
        field = cast(models.Field, instance._meta.get_field(key))
        value = getattr(instance, key)
        if key in always or key == "slug" or not _is_default(value, field.get_default()):
            out[key] = _value(value)
    return out


def _is_default(value: Any, default: Any) -> bool:
    if default is None:
        return value is None
    return same(value, default)


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return Money(decimal_text(value))
    return value


def _vertical(vertical: Vertical) -> dict[str, Any]:
    out = _plain(vertical, VERTICAL_KEYS)
    fields = []
    for field in vertical.fields.all():
        row = Flow(name=field.name, type=field.type)
        if field.choices:
            row["choices"] = list(field.choices)
        row["stage"] = field.stage
        for flag in ("required_at_ping", "required_at_post"):
            if getattr(field, flag):
                row[flag] = True
        fields.append(row)
    if fields:
        out["fields"] = fields
    return out


def _publisher(publisher: Publisher) -> dict[str, Any]:
    out = _plain(publisher, ("slug", "name", "is_active"))
    if publisher.payout_model == "fixed":
        out["payout"] = Flow(model="fixed", amount=Money(decimal_text(publisher.payout_amount)))
    else:
        percent = publisher.payout_percent
        shown: Any = (
            int(percent) if percent == percent.to_integral_value() else Money(decimal_text(percent))
        )
        out["payout"] = Flow(model="revenue_share", percent=shown)
    out.update(_plain(publisher, PUBLISHER_KEYS[3:]))
    if "allowed_ips" in out:
        out["allowed_ips"] = FlowList(out["allowed_ips"])
    keys = sorted(
        (k for k in publisher.keys.all() if k.revoked_at is None and k.kind != "buyer"),
        key=lambda k: k.pk,
    )
    if keys:
        out["keys"] = [Flow(name=k.name, prefix=k.prefix) for k in keys]
    return out


def _buyer(buyer: Buyer, path: str, warnings: list[str]) -> dict[str, Any]:
    out = _plain(buyer, BUYER_KEYS)
    keys = sorted((k for k in buyer.keys.all() if k.revoked_at is None), key=lambda k: k.pk)
    if keys:
        out["keys"] = [Flow(name=k.name, prefix=k.prefix) for k in keys]

    if "allowed_ips" in out:
        out["allowed_ips"] = FlowList(out["allowed_ips"])
    caps = [_cap(c) for c in buyer.caps.all()]
    if caps:
        out["caps"] = caps
    campaigns = [
        _campaign(c, at(at(path, "campaigns"), i), warnings)
        for i, c in enumerate(buyer.campaigns.all())
    ]
    if campaigns:
        out["campaigns"] = campaigns
    return out


def _campaign(campaign: Campaign, path: str, warnings: list[str]) -> dict[str, Any]:
    out = _plain(campaign, ("slug", "name", "is_active"))
    out["vertical"] = campaign.vertical.slug
    if campaign.pricing_model == "fixed":
        price = campaign.fixed_price or Decimal(0)
        out["pricing"] = Flow(model="fixed", price=Money(decimal_text(price)))
        if campaign.price_modifiers:
            # With modifiers, pricing spreads over lines: one modifier a line.
            out["pricing"] = {
                **out["pricing"],
                "modifiers": [_ordered(m, MODIFIER_ORDER) for m in campaign.price_modifiers],
            }
    else:
        out["pricing"] = Flow(model="dynamic", min_bid=Money(decimal_text(campaign.min_bid)))
    rest = _plain(campaign, CAMPAIGN_KEYS[3:])
    if "filters" in rest:
        rest["filters"] = [Flow(f) if isinstance(f, dict) else f for f in rest["filters"]]
    if "retry_backoff" in rest:
        rest["retry_backoff"] = FlowList(rest["retry_backoff"])
    if "schedule" in rest:
        rest["schedule"] = Flow(rest["schedule"])
    if "throttle" in rest:
        rest["throttle"] = _ordered(rest["throttle"], ("pings", "per"))
    out.update(rest)
    caps = [_cap(c) for c in campaign.caps.all()]
    if caps:
        # Caps sit with the targeting, before the endpoints, as in the SPEC example.
        out["caps"] = caps
    endpoints = {e.kind: e for e in campaign.endpoints.all()}
    for kind in ("ping", "post"):
        if kind in endpoints:
            out[kind] = _endpoint(endpoints[kind], at(path, kind), warnings)
    return out


# PostgreSQL's jsonb keeps keys in its own order: the file shows them as people write them.
MODIFIER_ORDER = ("when", "field", "op", "value", "any", "all", "add", "multiply")


def _ordered(node: Any, order: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_ordered(item, order) for item in node]
    if not isinstance(node, dict):
        return node
    keys = sorted(node, key=lambda k: order.index(k) if k in order else len(order))
    return Flow((k, _ordered(node[k], order)) for k in keys)


def _cap(cap: Cap) -> Flow:
    row = Flow(period=cap.period)
    if cap.max_leads is not None:
        row["leads"] = cap.max_leads
    if cap.max_spend is not None:
        row["spend"] = Money(decimal_text(cap.max_spend))
    return row


def _endpoint(endpoint: Endpoint, path: str, warnings: list[str]) -> dict[str, Any]:
    out = _plain(endpoint, ("url", "test_url", "method", "format", "timeout_ms"))
    if endpoint.headers:
        out["headers"] = Flow(endpoint.headers)
    if endpoint.credential is not None:
        out["auth"] = _auth(endpoint.credential, at(path, "auth"), warnings)
    if endpoint.mapping:
        out["mapping"] = [Flow(r) if isinstance(r, dict) else r for r in endpoint.mapping]
    if endpoint.response:
        out["response"] = {
            k: Flow(v) if isinstance(v, dict) else v for k, v in endpoint.response.items()
        }
    return out


def _auth(credential: Credential, path: str, warnings: list[str]) -> Flow:
    row = Flow(type=credential.type)
    for key, field in AUTH_FIELDS.get(credential.type, {}).items():
        if getattr(credential, field):
            row[key] = getattr(credential, field)
    secret_key = AUTH_SECRET.get(credential.type)
    if secret_key and credential.secret_env:
        row[f"{secret_key}_env"] = credential.secret_env
    elif secret_key and credential.secret:
        warnings.append(
            f"{path}: the stored {secret_key} of credential {credential.name!r} is not "
            f"exported; give {secret_key} or {secret_key}_env when importing elsewhere"
        )
    row["credential"] = credential.name
    return row
