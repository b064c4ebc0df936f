"""Personal data: normalisation for lookup hashes, and masking for logs and stored bodies."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import phonenumbers

from plumbing.crypto import lookup_hash
from plumbing.fields import PII_FIELDS

MASK = "***"
# Starting only where a run of local-part characters starts keeps a long run without an
# "@" (a 150 KB buyer answer of letters) one linear scan instead of one per position.
_EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# Runs of 10+ digits, optionally separated, look like phone numbers in free text.
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?\d[\s().\-]?){9,14}\d(?!\d)")


def normalize_phone(raw: str, region: str = "US") -> str | None:
    """E.164 form of ``raw``, or None when it is not a valid number."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def phone_hash(e164: str) -> str:
    return lookup_hash("phone", e164) if e164 else ""


def email_hash(email: str) -> str:
    return lookup_hash("email", normalize_email(email)) if email else ""


def split_pii(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(non-personal fields, personal fields) of a lead."""
    data = {k: v for k, v in fields.items() if k not in PII_FIELDS}
    pii = {k: v for k, v in fields.items() if k in PII_FIELDS}
    return data, pii


def mask_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (MASK if k in PII_FIELDS and v not in (None, "") else v) for k, v in fields.items()}


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known personal value, email and phone-like number masked.

    Buyers' bodies use their own field names and formats, so masking goes by value
    rather than by key: the lead's own PII values first, then anything shaped like
    an email or a phone number.
    """
    for value in sorted({str(s) for s in secrets if s not in (None, "")}, key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, MASK)
    text = _EMAIL_RE.sub(MASK, text)
    return _PHONE_RE.sub(MASK, text)


def pii_values(pii: Mapping[str, Any]) -> list[str]:
    """Every form a lead's personal values may take in a mapped body."""
    values: list[str] = []
    for key, value in pii.items():
        if value in (None, ""):
            continue
        text = str(value)
        values.append(text)
        if key == "phone":
            digits = re.sub(r"\D", "", text)
            values.extend([digits, digits[-10:]])
    return values


class MaskPiiLogFilter(logging.Filter):
    """Masks emails and phone numbers in every log record, whatever logged them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True
