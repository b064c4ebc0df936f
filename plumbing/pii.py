"""Personal data: normalisation for lookup hashes, and masking for logs and stored bodies."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import phonenumbers

from plumbing.crypto import lookup_hash
from plumbing.fields import PII_FIELDS
from plumbing.masking import MASK, pii_values, scrub_text  # noqa: F401  (re-exported)


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


class MaskPiiLogFilter(logging.Filter):
    """Masks emails and phone numbers in every log record, whatever logged them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True
