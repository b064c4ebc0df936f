"""The OpenAPI schema's parts that come from the configuration and the code catalogue,
added by a drf-spectacular post-processing hook (``SPECTACULAR_SETTINGS``):

- the two ways to send a key (``Authorization: Bearer`` and ``X-API-Key``) as security
  schemes, so the docs page has an Authorize button;
- one lead schema per active vertical and stage, built from the vertical's field
  schema (types, stages, required flags, examples), and the ping, post and direct post
  request bodies as a choice among them;
- every error and reason code with its meaning (``exchange.api.codes``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError

from exchange.lead_examples import example_lead, example_value
from exchange.models import Vertical
from exchange.validation import US_STATES
from plumbing.fields import PII_FIELDS, FieldSpec, FieldType, Stage, vertical_schema

from .codes import codes_markdown

log = logging.getLogger(__name__)

SECURITY_SCHEMES = {
    "bearerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "Your API key: `Authorization: Bearer sy_live_…` (`sy_test_…` for "
        "test leads, `sy_buyer_…` for the buyer API).",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The same key in an `X-API-Key` header.",
    },
}
KEY_SECURITY: list[dict[str, list[str]]] = [{"bearerKey": []}, {"apiKeyHeader": []}]
OPEN_PATHS = frozenset({"/api/v1/health"})

_REF = "#/components/schemas/"
_PATTERNS: dict[str, str] = {FieldType.ZIP: r"^\d{5}(-\d{4})?$"}
_FORMATS: dict[str, str] = {
    FieldType.DATE: "date",
    FieldType.DATETIME: "date-time",
    FieldType.EMAIL: "email",
    FieldType.URL: "uri",
    FieldType.DECIMAL: "decimal",
    FieldType.PHONE: "phone",
    FieldType.IP: "ip",
}


def field_schema(spec: FieldSpec) -> dict[str, Any]:
    """One lead field as a JSON schema property, its stage and flags in words and in
    ``x-`` extensions."""
    schema: dict[str, Any] = {"type": "string"}
    if spec.type == FieldType.INTEGER:
        schema = {"type": "integer"}
    elif spec.type == FieldType.BOOLEAN:
        schema = {"type": "boolean"}
    elif spec.type == FieldType.CHOICE and spec.choices:
        schema["enum"] = list(spec.choices)
    elif spec.type == FieldType.STATE:
        schema["enum"] = sorted(US_STATES)
    elif spec.type in _PATTERNS:
        schema["pattern"] = _PATTERNS[spec.type]
    if spec.type in _FORMATS:
        schema["format"] = _FORMATS[spec.type]
    if schema["type"] == "string" and "enum" not in schema:
        schema["maxLength"] = spec.max_length
    schema["example"] = example_value(spec)
    schema["description"] = field_description(spec)
    schema["x-type"] = spec.type
    schema["x-stage"] = spec.stage
    schema["x-required-at-ping"] = spec.required_at_ping
    schema["x-required-at-post"] = spec.required_at_post
    return schema


def field_description(spec: FieldSpec) -> str:
    words = [f"{spec.type}, {spec.stage} stage"]
    if spec.stage == Stage.PING:
        words.append("may be sent in the ping and the post")
    else:
        words.append("post only, never in a ping")
    required = [
        s for s, r in (("ping", spec.required_at_ping), ("post", spec.required_at_post)) if r
    ]
    words.append(f"required at {' and '.join(required)}" if required else "optional")
    if spec.name in PII_FIELDS:
        words.append("personal data")
    return "; ".join(words) + "."


def lead_schema(name: str, schema: dict[str, FieldSpec], stage: str) -> dict[str, Any]:
    fields = [s for s in schema.values() if stage == Stage.POST or s.stage == Stage.PING]
    required = [
        s.name
        for s in fields
        if (s.required_at_ping if stage == Stage.PING else s.required_at_post)
    ]
    body: dict[str, Any] = {
        "type": "object",
        "description": f"The {stage}-stage fields of {name}."
        + (" Personal data is refused in a ping." if stage == Stage.PING else ""),
        "properties": {s.name: field_schema(s) for s in fields},
        "additionalProperties": False,
        "example": example_lead(schema, stage),
    }
    if required:
        body["required"] = required
    return body


def component_prefix(slug: str) -> str:
    return "".join(part.capitalize() for part in slug.replace("_", "-").split("-") if part)


def vertical_components(slug: str, name: str, schema: dict[str, FieldSpec]) -> dict[str, Any]:
    """The components of one vertical: its ping and post leads and request bodies."""
    prefix = component_prefix(slug)
    ping_lead, post_lead = (
        lead_schema(name, schema, Stage.PING),
        lead_schema(name, schema, Stage.POST),
    )
    sub_id = {"type": "string", "maxLength": 100, "description": "Your traffic source."}
    mode = {
        "type": "string",
        "enum": ["sync", "async"],
        "default": "sync",
        "description": "async: answer `pending` at once and report by callback.",
    }
    vertical = {"type": "string", "enum": [slug], "description": name}
    return {
        f"{prefix}PingLead": ping_lead,
        f"{prefix}PostLead": post_lead,
        f"{prefix}PingRequest": {
            "type": "object",
            "properties": {
                "vertical": vertical,
                "sub_id": sub_id,
                "lead": {"$ref": f"{_REF}{prefix}PingLead"},
            },
            "required": ["vertical", "lead"],
            "example": {
                "vertical": slug,
                "sub_id": "spring-campaign",
                "lead": ping_lead["example"],
            },
        },
        f"{prefix}PostRequest": {
            "type": "object",
            "properties": {
                "ping_id": {"type": "string", "format": "uuid"},
                "lead": {"$ref": f"{_REF}{prefix}PostLead"},
                "mode": mode,
            },
            "required": ["ping_id", "lead"],
            "example": {
                "ping_id": "0b7e3c58-5d1a-4b8e-9a39-2f6f3b2d9c11",
                "lead": post_lead["example"],
            },
        },
        f"{prefix}DirectPostRequest": {
            "type": "object",
            "properties": {
                "vertical": vertical,
                "sub_id": sub_id,
                "lead": {"$ref": f"{_REF}{prefix}PostLead"},
                "mode": mode,
            },
            "required": ["vertical", "lead"],
            "example": {"vertical": slug, "lead": post_lead["example"]},
        },
    }


def active_verticals() -> list[tuple[str, str, dict[str, FieldSpec]]]:
    """(slug, name, field schema) of every active vertical; none when the database
    cannot be read: the schema is then served with the generic lead object."""
    try:
        rows = list(Vertical.objects.filter(is_active=True).prefetch_related("fields"))
    except (DatabaseError, RuntimeError) as exc:
        # RuntimeError: a database that may not be used here (pytest's guard, when a
        # test reads the schema at collection).
        log.warning("the API schema lists no vertical: %s", exc)
        return []
    return [(v.slug, v.name, dict(vertical_schema(v.fields.all()))) for v in rows]


# Request components drf-spectacular names after the serializers (COMPONENT_SPLIT_REQUEST).
BODIES = {
    "PingRequestRequest": ("PingRequest", "vertical"),
    "DirectPostRequestRequest": ("DirectPostRequest", "vertical"),
    "PostRequestRequest": ("PostRequest", None),
}


def postprocess(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular's post-processing hook."""
    components = result.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    for path, operations in result.get("paths", {}).items():
        if path in OPEN_PATHS:
            continue
        for operation in operations.values():
            operation["security"] = KEY_SECURITY
    info = result.setdefault("info", {})
    info["description"] = (info.get("description", "") + "\n\n" + codes_markdown()).strip()

    schemas = components.setdefault("schemas", {})
    verticals = active_verticals()
    if not verticals:
        return result
    for slug, name, schema in verticals:
        schemas.update(vertical_components(slug, name, schema))
    prefixes = {slug: component_prefix(slug) for slug, _, _ in verticals}
    for component, (suffix, discriminator) in BODIES.items():
        refs = {slug: f"{_REF}{p}{suffix}" for slug, p in prefixes.items()}
        choice: dict[str, Any] = {
            "description": "One shape per vertical: pick yours.",
            # A post after a ping names no vertical: its lead may match several shapes.
            ("oneOf" if discriminator else "anyOf"): [{"$ref": r} for r in refs.values()],
        }
        if discriminator:
            choice["discriminator"] = {"propertyName": discriminator, "mapping": refs}
        schemas[component] = choice
    _request_examples(result, verticals, prefixes, schemas)
    return result


_OPERATIONS = {
    "/api/v1/ping": "PingRequest",
    "/api/v1/post": "PostRequest",
    "/api/v1/leads": "DirectPostRequest",
}


def _request_examples(
    result: dict[str, Any], verticals: list, prefixes: dict[str, str], schemas: dict[str, Any]
) -> None:
    """A JSON request example per vertical on the ping, post and direct post operations
    (the docs page offers them in a list)."""
    for path, suffix in _OPERATIONS.items():
        operation = result.get("paths", {}).get(path, {}).get("post")
        if not operation:
            continue
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            continue
        content["examples"] = {
            slug: {
                "summary": name,
                "value": schemas[f"{prefixes[slug]}{suffix}"]["example"],
            }
            for slug, name, _ in verticals
        }
