"""Reading a config file (SPEC §9) into a checked ``Plan``, or refusing it whole.

Every problem is collected with its place in the file (``buyers[0].campaigns[1].ping
.mapping[2]: ...``) before anything is written, so a file is applied entirely or not
at all. Rules are checked by the same validators the admin uses, against the schema
the vertical will have after this file (or has today, when the file leaves it out).
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from buyers.models import Buyer, Campaign, Cap, Credential, Endpoint
from exchange.models import Publisher, Vertical, VerticalField

from .checks import check_plan
from .plan import (
    AuthPlan,
    BuyerPlan,
    CampaignPlan,
    CapPlan,
    EndpointPlan,
    KeyPlan,
    Plan,
    PublisherPlan,
    VerticalPlan,
)
from .reader import ConfigFileError, Reader, at
from .sections import SECTIONS

TOP_KEYS: tuple[str, ...] = ("verticals", "publishers", "buyers")
VERTICAL_KEYS: tuple[str, ...] = (
    "slug",
    "name",
    "routing",
    "ping_ttl_seconds",
    "post_deadline_ms",
    "is_active",
)
FIELD_KEYS: tuple[str, ...] = (
    "name",
    "type",
    "choices",
    "stage",
    "required_at_ping",
    "required_at_post",
)
PUBLISHER_KEYS: tuple[str, ...] = (
    "slug",
    "name",
    "is_active",
    "floor",
    "allowed_ips",
    "rate_limit",
)
PUBLISHER_KEYS += ("callback_url", "forward_dispositions")
BUYER_KEYS: tuple[str, ...] = ("slug", "name", "is_active", "timezone", "return_window_days")
BUYER_KEYS += ("max_return_percent", "billing_email", "notes", "allowed_ips", "rate_limit")
CAMPAIGN_KEYS: tuple[str, ...] = ("slug", "name", "is_active", "priority", "filters", "schedule")
CAMPAIGN_KEYS += ("require_tcpa_consent", "require_trustedform", "require_jornaya")
CAMPAIGN_KEYS += ("dedupe_days", "max_attempts", "max_bid")
CAMPAIGN_KEYS += ("retry_backoff", "max_timeout_rate", "max_p95_latency_ms")
CAMPAIGN_KEYS += ("fallback", "throttle")
ENDPOINT_KEYS: tuple[str, ...] = ("url", "test_url", "method", "format", "timeout_ms", "headers")
ENDPOINT_KEYS += ("mapping", "response")
ENDPOINT_KINDS: tuple[str, ...] = ("ping", "post")

# Per auth type: the file's keys for plain credential fields, and its secret's key.
AUTH_FIELDS: dict[str, dict[str, str]] = {
    "none": {},
    "header": {"name": "header_name"},
    "basic": {"username": "username"},
    "bearer": {},
    "oauth2": {"token_url": "token_url", "client_id": "client_id", "scope": "scope"},
    "hmac": {"header": "header_name"},
}
AUTH_SECRET = {
    "header": "value",
    "basic": "password",
    "bearer": "token",
    "oauth2": "client_secret",
    "hmac": "secret",
}
AUTH_REQUIRED = {"basic": ("username",), "oauth2": ("token_url", "client_id")}
KEY_KINDS = {"sy_live_": "live", "sy_test_": "test"}
BUYER_KEY_KINDS = {"sy_buyer_": "buyer"}
KEY_MIN_RANDOM = 16


def parse_document(document: Any) -> Plan:
    """Check a loaded YAML document and return its plan; raises ``ConfigFileError``."""
    r = Reader()
    plan = Plan()
    top = r.table({} if document is None else document, "", keys=(*TOP_KEYS, *SECTIONS))
    if top is not None:
        plan.sections = {
            key: section.parse(r, top[key], key)
            for key, section in SECTIONS.items()
            if top.get(key) is not None
        }
        plan.verticals = [
            v
            for i, node in enumerate(r.items(top.get("verticals"), "verticals"))
            if (v := _vertical(r, node, at("verticals", i))) is not None
        ]
        plan.publishers = [
            p
            for i, node in enumerate(r.items(top.get("publishers"), "publishers"))
            if (p := _publisher(r, node, at("publishers", i))) is not None
        ]
        plan.buyers = [
            b
            for i, node in enumerate(r.items(top.get("buyers"), "buyers"))
            if (b := _buyer(r, node, at("buyers", i))) is not None
        ]
    # An entry that could not be read is left out above (its error is reported).
    check_plan(r, plan)
    if r.problems:
        raise ConfigFileError(r.problems)
    plan.warnings = r.warnings
    return plan


# --- verticals --------------------------------------------------------------------------------


def _vertical(r: Reader, node: Any, path: str) -> VerticalPlan | None:
    node = r.table(node, path, keys=(*VERTICAL_KEYS, "fields"), required=("slug", "name"))
    if node is None:
        return None
    values = {key: r.value(Vertical, key, node, key, path) for key in VERTICAL_KEYS}
    fields_path = at(path, "fields")
    fields: list[dict[str, Any]] = []
    for i, item in enumerate(r.items(node.get("fields"), fields_path)):
        field = _vertical_field(r, item, at(fields_path, i))
        if field is None:
            continue
        if any(f["name"] == field["name"] for f in fields):
            r.fail(at(fields_path, i), f"field {field['name']!r} is listed twice")
        fields.append(field)
    return VerticalPlan(path, values.pop("slug"), values, fields)


def _vertical_field(r: Reader, node: Any, path: str) -> dict[str, Any] | None:
    node = r.table(node, path, keys=FIELD_KEYS, required=("name",))
    if node is None:
        return None
    if "choices" in node and not isinstance(node["choices"], list):
        r.fail(at(path, "choices"), "expected a list of the allowed values")
        node = {**node, "choices": []}
    values = {key: r.value(VerticalField, key, node, key, path) for key in FIELD_KEYS}
    r.model_rules(VerticalField(**values), path, {k: k for k in FIELD_KEYS})
    return values


# --- publishers -------------------------------------------------------------------------------


def _publisher(r: Reader, node: Any, path: str) -> PublisherPlan | None:
    keys = (*PUBLISHER_KEYS, "payout", "keys")
    node = r.table(node, path, keys=keys, required=("slug", "name"))
    if node is None:
        return None
    values = {key: r.value(Publisher, key, node, key, path) for key in PUBLISHER_KEYS}
    for i, network in enumerate(r.items(node.get("allowed_ips"), at(path, "allowed_ips"))):
        try:
            ipaddress.ip_network(str(network), strict=False)
        except ValueError:
            r.fail(
                at(at(path, "allowed_ips"), i), f"{network!r} is not an IP range like 10.0.0.0/8"
            )
    values.update(_payout(r, node.get("payout"), at(path, "payout")))
    keys_path = at(path, "keys")
    plan_keys = [
        _key(r, item, at(keys_path, i))
        for i, item in enumerate(r.items(node.get("keys"), keys_path))
    ]
    return PublisherPlan(path, values.pop("slug"), values, [k for k in plan_keys if k])


def _payout(r: Reader, node: Any, path: str) -> dict[str, Any]:
    if node is None:
        return {"payout_model": Publisher._meta.get_field("payout_model").get_default()}
    node = r.table(node, path, keys=("model", "percent", "amount"), required=("model",))
    if node is None:
        return {}
    model = r.value(Publisher, "payout_model", node, "model", path)
    if model == "fixed":
        if "percent" in node:
            r.fail(at(path, "percent"), "a fixed payout has an amount, not a percent")
        return {
            "payout_model": model,
            "payout_amount": _required(r, Publisher, "payout_amount", node, "amount", path),
        }
    if "amount" in node:
        r.fail(at(path, "amount"), "a revenue share has a percent, not an amount")
    return {
        "payout_model": model,
        "payout_percent": _required(r, Publisher, "payout_percent", node, "percent", path),
    }


def _key(r: Reader, node: Any, path: str, kinds: dict[str, str] = KEY_KINDS) -> KeyPlan | None:
    node = r.table(node, path, keys=("name", "key", "key_env", "prefix"))
    if node is None:
        return None
    name = str(node.get("name") or "main")
    raw = node.get("key")
    if node.get("key_env"):
        if raw:
            r.fail(path, "give key or key_env, not both")
        raw = os.environ.get(str(node["key_env"]), "")
        if not raw:
            r.fail(at(path, "key_env"), f"environment variable {node['key_env']} is not set")
            return None
    if raw is None:
        prefix = node.get("prefix")
        if not isinstance(prefix, str) or not prefix:
            r.fail(path, "give the key's full text as key (or key_env)")
            return None
        return KeyPlan(path, name, prefix=prefix)
    raw = str(raw)
    kind = next((k for p, k in kinds.items() if raw.startswith(p)), None)
    if kind is None or len(raw) < len(f"sy_{kind}_") + KEY_MIN_RANDOM:
        owner = (
            "a buyer key looks like sy_buyer_…"
            if kinds is BUYER_KEY_KINDS
            else ("a publisher key looks like sy_live_… or sy_test_…")
        )
        r.fail(at(path, "key"), f"{owner} with 16+ more characters")
        return None
    if node.get("prefix") and not raw.startswith(str(node["prefix"])):
        r.fail(at(path, "prefix"), "does not match the key")
    return KeyPlan(path, name, raw=raw)


# --- buyers and campaigns ----------------------------------------------------------------------


def _buyer(r: Reader, node: Any, path: str) -> BuyerPlan | None:
    node = r.table(
        node, path, keys=(*BUYER_KEYS, "keys", "caps", "campaigns"), required=("slug", "name")
    )
    if node is None:
        return None
    values = {key: r.value(Buyer, key, node, key, path) for key in BUYER_KEYS}
    slug = values.pop("slug")
    caps = _caps(r, node.get("caps"), at(path, "caps"))
    campaigns_path = at(path, "campaigns")
    campaigns = [
        _campaign(r, item, at(campaigns_path, i))
        for i, item in enumerate(r.items(node.get("campaigns"), campaigns_path))
    ]
    keys_path = at(path, "keys")
    keys = [
        _key(r, item, at(keys_path, i), BUYER_KEY_KINDS)
        for i, item in enumerate(r.items(node.get("keys"), keys_path))
    ]
    return BuyerPlan(path, slug, values, caps, [c for c in campaigns if c], [k for k in keys if k])


def _campaign(r: Reader, node: Any, path: str) -> CampaignPlan | None:
    keys = (*CAMPAIGN_KEYS, "vertical", "pricing", "caps", *ENDPOINT_KINDS)
    node = r.table(node, path, keys=keys, required=("slug", "vertical"))
    if node is None:
        return None
    values = {key: r.value(Campaign, key, node, key, path) for key in CAMPAIGN_KEYS}
    values.update(_pricing(r, node.get("pricing"), at(path, "pricing")))
    slug = values.pop("slug")
    plan = CampaignPlan(path, slug, str(node["vertical"]), values)
    plan.caps = _caps(r, node.get("caps"), at(path, "caps"))
    for kind in ENDPOINT_KINDS:
        if node.get(kind) is not None:
            endpoint = _endpoint(r, node[kind], at(path, kind), kind, slug)
            if endpoint is not None:
                plan.endpoints[kind] = endpoint
    return plan


def _pricing(r: Reader, node: Any, path: str) -> dict[str, Any]:
    if node is None:
        return {
            "pricing_model": "dynamic",
            "min_bid": Campaign._meta.get_field("min_bid").get_default(),
        }
    keys = ("model", "min_bid", "price", "modifiers")
    node = r.table(node, path, keys=keys, required=("model",))
    if node is None:
        return {}
    model = r.value(Campaign, "pricing_model", node, "model", path)
    if model == "fixed":
        if "min_bid" in node:
            r.fail(at(path, "min_bid"), "a fixed price campaign does not bid: drop min_bid")
        return {
            "pricing_model": model,
            "fixed_price": _required(r, Campaign, "fixed_price", node, "price", path),
            "price_modifiers": r.value(Campaign, "price_modifiers", node, "modifiers", path),
        }
    if "price" in node:
        r.fail(at(path, "price"), "a dynamic campaign bids from its ping answer: use min_bid")
    if "modifiers" in node:
        r.fail(at(path, "modifiers"), "modifiers move a fixed price: use model: fixed")
    return {"pricing_model": model, "min_bid": r.value(Campaign, "min_bid", node, "min_bid", path)}


def _caps(r: Reader, node: Any, path: str) -> list[CapPlan]:
    caps = []
    for i, item in enumerate(r.items(node, path)):
        where = at(path, i)
        item = r.table(item, where, keys=("period", "leads", "spend"), required=("period",))
        if item is None:
            continue
        if item.get("leads") is None and item.get("spend") is None:
            r.fail(where, "a cap limits leads, spend or both")
        caps.append(
            CapPlan(
                r.value(Cap, "period", item, "period", where),
                r.value(Cap, "max_leads", item, "leads", where),
                r.value(Cap, "max_spend", item, "spend", where),
            )
        )
    return caps


def _endpoint(r: Reader, node: Any, path: str, kind: str, campaign: str) -> EndpointPlan | None:
    node = r.table(node, path, keys=(*ENDPOINT_KEYS, "auth"), required=("url",))
    if node is None:
        return None
    values = {key: r.value(Endpoint, key, node, key, path) for key in ENDPOINT_KEYS}
    plan = EndpointPlan(path, kind, values)
    if node.get("auth") is not None:
        plan.auth = _auth(r, node["auth"], at(path, "auth"), f"{campaign}-{kind}")
    return plan


def _auth(r: Reader, node: Any, path: str, default_name: str) -> AuthPlan | None:
    if not isinstance(node, dict) or node.get("type") not in AUTH_FIELDS:
        r.fail(path, f"expected {{type: ...}} with a type among {', '.join(AUTH_FIELDS)}")
        return None
    kind = node["type"]
    plain = AUTH_FIELDS[kind]
    secret_key = AUTH_SECRET.get(kind)
    keys = ["type", "credential", *plain]
    if secret_key:
        keys += [secret_key, f"{secret_key}_env"]
    node = r.table(node, path, keys=keys, required=AUTH_REQUIRED.get(kind, ()))
    if node is None:
        return None
    name = str(node.get("credential") or default_name)
    values = {field: "" for field in ("header_name", "username", "token_url", "client_id", "scope")}
    values.update(
        {field: r.value(Credential, field, node, key, path) for key, field in plain.items()}
    )
    values["type"] = kind
    values["secret_env"] = ""
    secret = None
    if secret_key:
        inline, env = node.get(secret_key), node.get(f"{secret_key}_env")
        if inline is not None and env:
            r.fail(path, f"give {secret_key} or {secret_key}_env, not both")
        if env:
            values["secret_env"] = r.value(
                Credential, "secret_env", node, f"{secret_key}_env", path
            )
            if not os.environ.get(values["secret_env"]):
                r.warn(at(path, f"{secret_key}_env"), f"environment variable {env} is not set here")
            secret = ""  # one source of truth: the stored secret gives way to the variable
        elif inline is not None:
            secret = str(inline)
    if len(name) > (Credential._meta.get_field("name").max_length or 0):
        r.fail(at(path, "credential"), "a credential name has at most 100 characters")
    return AuthPlan(path, name, values, secret)


def _required(r: Reader, model: Any, name: str, node: dict[str, Any], key: str, path: str) -> Any:
    if node.get(key) is None:
        r.fail(path, f"{key!r} is required")
    return r.value(model, name, node, key, path)
