"""The standard lead fields every vertical shares, and which of them are personal data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import models


class FieldType(models.TextChoices):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"
    ZIP = "zip"
    STATE = "state"
    PHONE = "phone"
    EMAIL = "email"
    URL = "url"
    IP = "ip"


class Stage(models.TextChoices):
    PING = "ping"
    POST = "post"


@dataclass(frozen=True)
class FieldSpec:
    """One field of a vertical's schema, as validation and mapping see it."""

    name: str
    type: str = FieldType.STRING
    stage: str = Stage.PING
    required_at_ping: bool = False
    required_at_post: bool = False
    choices: tuple[str, ...] = field(default_factory=tuple)
    pii: bool = False
    max_length: int = 255


# Names, email, phone, address, dob and ip are personal: post stage only, never in a
# ping, encrypted at rest and masked in logs.
PII_FIELDS: frozenset[str] = frozenset(
    {"first_name", "last_name", "email", "phone", "address", "dob", "ip_address"}
)

STANDARD_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("first_name", stage=Stage.POST, required_at_post=True, pii=True),
    FieldSpec("last_name", stage=Stage.POST, required_at_post=True, pii=True),
    FieldSpec("email", FieldType.EMAIL, Stage.POST, required_at_post=True, pii=True),
    FieldSpec("phone", FieldType.PHONE, Stage.POST, required_at_post=True, pii=True),
    FieldSpec("address", stage=Stage.POST, pii=True),
    FieldSpec("city"),
    FieldSpec("state", FieldType.STATE),
    FieldSpec("zip", FieldType.ZIP, required_at_ping=True, required_at_post=True),
    FieldSpec("dob", FieldType.DATE, Stage.POST, pii=True),
    FieldSpec("ip_address", FieldType.IP, Stage.POST, pii=True),
    FieldSpec("user_agent", max_length=1000),
    FieldSpec("landing_page", FieldType.URL, max_length=2000),
    FieldSpec("tcpa_consent", FieldType.BOOLEAN),
    FieldSpec("consent_text", max_length=5000),
    FieldSpec("trustedform_cert_url", FieldType.URL, max_length=2000),
    FieldSpec("jornaya_leadid"),
    FieldSpec("consent_at", FieldType.DATETIME),
    # FCC one-to-one consent: the sellers (buyers) the consumer agreed to hear from, as a
    # list or comma-separated text of buyer slugs or names; only they may buy the lead.
    FieldSpec("consent_sellers", max_length=2000),
)
CONSENT_SELLERS = "consent_sellers"
STANDARD_FIELD_NAMES: frozenset[str] = frozenset(f.name for f in STANDARD_FIELDS)


class VerticalFieldLike(Protocol):
    """What a vertical's own field row offers (``exchange.models.VerticalField``)."""

    name: str
    type: str
    stage: str
    required_at_ping: bool
    required_at_post: bool
    choices: Any


def vertical_schema(own_fields: Iterable[VerticalFieldLike]) -> dict[str, FieldSpec]:
    """A vertical's field schema: the standard fields, overridden or extended by its own."""
    schema = {spec.name: spec for spec in STANDARD_FIELDS}
    for vf in own_fields:
        base = schema.get(vf.name)
        schema[vf.name] = FieldSpec(
            name=vf.name,
            type=vf.type,
            stage=vf.stage,
            required_at_ping=vf.required_at_ping,
            required_at_post=vf.required_at_post,
            choices=tuple(str(c) for c in vf.choices or ()),
            pii=base.pii if base else False,
            max_length=base.max_length if base else 255,
        )
    return schema
