"""Validation of a lead's fields against its vertical's schema, per stage.

Values keep their text ("01234" stays a string); only typed fields are normalised
(phone to E.164, booleans, numbers, dates), so what a buyer receives is predictable.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from plumbing import zipdata
from plumbing.fields import CONSENT_SELLERS, PII_FIELDS, FieldSpec, FieldType, Stage
from plumbing.pii import normalize_phone

US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "PR",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "VI",
        "WA",
        "WV",
        "WI",
        "WY",
        "GU",
        "AS",
        "MP",
    ]
)
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+$"
)
_ZIP_RE = re.compile(r"^\d{5}(?:-\d{4})?$", re.ASCII)  # not "٧٥٠٠١"
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


class FieldError(ValueError):
    pass


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise FieldError("must be a single value, not a list or object")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip() if not isinstance(value, str) else value.strip()


def _sellers(value: Any) -> list[str]:
    """``consent_sellers`` as a list of names: a JSON list, or text split on commas."""
    items = value if isinstance(value, list) else str(value).split(",")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str) or "\x00" in item:
            raise FieldError("must be a list of seller names, or names separated by commas")
        name = item.strip()
        if len(name) > 100:
            raise FieldError("a seller name must be at most 100 characters")
        if name and name not in names:
            names.append(name)
    if not names or len(names) > 50:
        raise FieldError("must name between 1 and 50 sellers")
    return names


def _clean(spec: FieldSpec, value: Any) -> Any:
    if spec.name == CONSENT_SELLERS:
        return _sellers(value)
    text = _text(value)
    # Whatever the type (a URL's pattern would let one through): PostgreSQL cannot store it.
    if "\x00" in text:
        raise FieldError("must not contain NUL characters")
    kind = spec.type
    if kind == FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise FieldError("must be true or false")
    if len(text) > spec.max_length:
        raise FieldError(f"must be at most {spec.max_length} characters")
    if kind == FieldType.INTEGER:
        if isinstance(value, float) or not re.fullmatch(r"[+-]?\d{1,15}", text, re.ASCII):
            raise FieldError("must be a whole number")
        return int(text)
    if kind == FieldType.DECIMAL:
        try:
            number = Decimal(text)
        except InvalidOperation as exc:
            raise FieldError("must be a decimal number") from exc
        if not number.is_finite():
            raise FieldError("must be a decimal number")
        return str(number)
    if kind == FieldType.DATE:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError as exc:
            raise FieldError("must be a date as YYYY-MM-DD") from exc
    if kind == FieldType.DATETIME:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
        except ValueError as exc:
            raise FieldError("must be an ISO 8601 date and time") from exc
    if kind == FieldType.CHOICE:
        if text not in spec.choices:
            raise FieldError(f"must be one of: {', '.join(spec.choices)}")
        return text
    if kind == FieldType.ZIP:
        if not _ZIP_RE.match(text):
            raise FieldError("must be a 5-digit ZIP code (or ZIP+4)")
        return text
    if kind == FieldType.STATE:
        if text.upper() not in US_STATES:
            raise FieldError("must be a two-letter US state code")
        return text.upper()
    if kind == FieldType.PHONE:
        e164 = normalize_phone(text)
        if e164 is None:
            raise FieldError("must be a valid phone number")
        return e164
    if kind == FieldType.EMAIL:
        if not _EMAIL_RE.match(text) or len(text) > 254:
            raise FieldError("must be a valid email address")
        return text
    if kind == FieldType.URL:
        if not re.match(r"^https?://[^\s/$.?#].[^\s]*$", text, re.IGNORECASE):
            raise FieldError("must be an http(s) URL")
        return text
    if kind == FieldType.IP:
        try:
            return str(ipaddress.ip_address(text))
        except ValueError as exc:
            raise FieldError("must be an IP address") from exc
    return text


def clean_field(spec: FieldSpec, value: Any) -> Any:
    """One value cleaned as ``spec`` says; raises ``FieldError`` with the problem."""
    return _clean(spec, value)


EMAIL_SPEC = FieldSpec("email", FieldType.EMAIL)


def validate_lead(
    lead: Any, schema: Mapping[str, FieldSpec], stage: str
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(clean values, errors keyed ``lead.<field>``) of ``lead`` for a ping or a post."""
    if not isinstance(lead, Mapping):
        return {}, {"lead": ["must be an object of lead fields"]}
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in lead.items():
        spec = schema.get(name) if isinstance(name, str) else None
        if spec is None:
            errors[f"lead.{name}"] = ["unknown field for this vertical"]
            continue
        if stage == Stage.PING and spec.stage == Stage.POST:
            errors[f"lead.{name}"] = [
                "personal data is not allowed in a ping; send it with the post"
                if name in PII_FIELDS
                else "this field belongs to the post, not the ping"
            ]
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            clean[name] = _clean(spec, value)
        except FieldError as exc:
            errors[f"lead.{name}"] = [str(exc)]
    for name, spec in schema.items():
        required = spec.required_at_ping if stage == Stage.PING else spec.required_at_post
        if required and name not in clean and f"lead.{name}" not in errors:
            errors[f"lead.{name}"] = ["this field is required"]
    problem = zip_state_problem(clean, schema)
    if problem:
        errors.setdefault("lead.state", []).append(problem)
    return clean, errors


def zip_state_problem(clean: Mapping[str, Any], schema: Mapping[str, FieldSpec]) -> str:
    """Why the lead's ZIP and state disagree (from the offline ZIP data set), or "".

    A ZIP the data set does not know is let through: refusing a real lead for a gap
    in the data (a ZIP opened last month) would cost more than it saves.
    """
    zip_code, state = clean.get("zip"), clean.get("state")
    if not zip_code or not state:
        return ""
    if schema.get("zip", _NO_SPEC).type != FieldType.ZIP:
        return ""
    if schema.get("state", _NO_SPEC).type != FieldType.STATE:
        return ""
    info = zipdata.lookup(str(zip_code))
    if info is None or info.state == state:
        return ""
    return f"does not match ZIP {str(zip_code)[:5]}, which is in {info.state}"


_NO_SPEC = FieldSpec("")
