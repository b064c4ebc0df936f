"""Example leads generated from a vertical's schema: for the OpenAPI schema, the
posting instructions and the demo's printed curl lines.

Every example passes the vertical's own validation (the ZIP and state agree, a choice
is one of its choices). ``fresh_person`` makes a new fictional person each call: the
exchange refuses a person it sold within ``DUPLICATE_WINDOW_DAYS``, so an example
that is followed twice must not name the same person twice.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from typing import Any

import phonenumbers

from plumbing.fields import (
    CONSENT_SELLERS,
    STANDARD_FIELD_NAMES,
    STANDARD_FIELDS,
    FieldSpec,
    FieldType,
    Stage,
)

# The standard fields' examples: one coherent person in Addison, Texas.
STANDARD_EXAMPLES: dict[str, Any] = {
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann.lee@example.com",
    "phone": "(214) 555-0143",
    "address": "4100 Belt Line Rd",
    "city": "Addison",
    "state": "TX",
    "zip": "75001",
    "dob": "1985-04-12",
    "ip_address": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
    "landing_page": "https://quotes.example.com/auto",
    "tcpa_consent": True,
    "consent_text": "By clicking Get quotes I agree to be contacted by phone and email.",
    "trustedform_cert_url": "https://cert.trustedform.com/" + "0123456789abcdef" * 2 + "01234567",
    "jornaya_leadid": "D3C4B2A1-0000-4000-8000-000000000001",
    "consent_at": "2026-01-15T14:30:00+00:00",
    CONSENT_SELLERS: "summit",
}
BY_TYPE: dict[str, Any] = {
    FieldType.STRING: "example",
    FieldType.INTEGER: 3,
    FieldType.DECIMAL: "1250.00",
    FieldType.BOOLEAN: True,
    FieldType.DATE: "1985-04-12",
    FieldType.DATETIME: "2026-01-15T14:30:00+00:00",
    FieldType.ZIP: "75001",
    FieldType.STATE: "TX",
    FieldType.PHONE: "(214) 555-0143",
    FieldType.EMAIL: "ann.lee@example.com",
    FieldType.URL: "https://example.com/",
    FieldType.IP: "203.0.113.7",
}
# Kept out of the example leads unless required: it limits which buyers may buy.
NOT_IN_EXAMPLES = frozenset({CONSENT_SELLERS})
# Standard fields shown in the examples although optional: filters often read them.
SHOWN_STANDARD = frozenset({"state"})


def example_value(spec: FieldSpec) -> Any:
    """A valid value for one field."""
    if spec.type == FieldType.CHOICE and spec.choices:
        return spec.choices[0]
    standard = STANDARD_EXAMPLES.get(spec.name)
    if standard is not None and spec.type == _standard_type(spec.name):
        return standard
    if spec.type == FieldType.INTEGER and "year" in spec.name:
        return 2019
    return BY_TYPE.get(spec.type, "example")


_STANDARD_TYPES = {spec.name: spec.type for spec in STANDARD_FIELDS}


def _standard_type(name: str) -> str:
    return _STANDARD_TYPES.get(name, "")


def in_example(spec: FieldSpec, stage: str) -> bool:
    """Whether an example lead for ``stage`` carries this field."""
    if stage == Stage.PING and spec.stage == Stage.POST:
        return False
    required = spec.required_at_ping if stage == Stage.PING else spec.required_at_post
    if required:
        return True
    if spec.name in NOT_IN_EXAMPLES:
        return False
    return spec.name not in STANDARD_FIELD_NAMES or spec.name in SHOWN_STANDARD


def example_lead(
    schema: Mapping[str, FieldSpec], stage: str, person: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A lead for ``stage`` that the vertical accepts; ``person`` replaces the example
    names, email and phone (``fresh_person``)."""
    lead = {name: example_value(spec) for name, spec in schema.items() if in_example(spec, stage)}
    if stage == Stage.POST and person:
        lead.update({k: v for k, v in person.items() if k in schema})
    return lead


@functools.cache
def _area_codes() -> tuple[int, ...]:
    """US area codes whose 555-01XX numbers (set aside for fiction) pass validation,
    Addison's own 214 left for the fixed example person."""
    codes = []
    for area in range(201, 990):
        number = phonenumbers.parse(f"({area}) 555-0100", "US")
        us = phonenumbers.region_code_for_number(number) == "US"  # not Canada's codes
        if area != 214 and us and phonenumbers.is_valid_number(number):
            codes.append(area)
    return tuple(codes)


FIRST_NAMES = ("Maya", "Luis", "Grace", "Omar", "Ivy", "Theo", "Nora", "Ravi", "Zoe", "Eli")
LAST_NAMES = ("Park", "Diaz", "Okafor", "Novak", "Chen", "Silva", "Moreau", "Quinn", "Haas")


def fresh_person() -> dict[str, str]:
    """A new fictional person: a random name, an email no one used before
    (``@example.com``, a random tag) and a fictional phone number (555-01XX in one of
    about 300 US area codes)."""
    first, last = secrets.choice(FIRST_NAMES), secrets.choice(LAST_NAMES)
    tag = secrets.token_hex(4)
    area = secrets.choice(_area_codes())
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower()}.{last.lower()}.{tag}@example.com",
        "phone": f"({area}) 555-01{secrets.randbelow(100):02d}",
    }
