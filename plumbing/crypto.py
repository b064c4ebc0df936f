"""Encryption at rest and keyed lookup hashes for personal data and secrets.

Values are encrypted with a MultiFernet over ``settings.PII_KEYS`` (newest first), so
keys rotate without downtime; lookups use an HMAC keyed by ``settings.PII_HASH_KEY``,
never a plain hash that a dictionary of phone numbers could reverse.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.db import models


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.PII_KEYS])


@lru_cache(maxsize=1)
def _hash_key() -> bytes:
    return settings.PII_HASH_KEY.encode()


def _reset(**kwargs: Any) -> None:
    if kwargs.get("setting") in ("PII_KEYS", "PII_HASH_KEY"):
        _fernet.cache_clear()
        _hash_key.cache_clear()


setting_changed.connect(_reset)


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt: no key in PII_KEYS matches this value") from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key."""
    return _fernet().rotate(token.encode()).decode()


def lookup_hash(kind: str, normalized_value: str) -> str:
    """A keyed hash for equality lookups (duplicates, suppression, deletion requests)."""
    message = f"{kind}:{normalized_value}".encode()
    return hmac.new(_hash_key(), message, hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; reads give the plaintext back."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None:
            return None
        return decrypt(value) if value else ""

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))


class EncryptedJSONField(models.TextField):
    """A JSON object stored encrypted as one Fernet token."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return {}
        return json.loads(decrypt(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value else {}
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        if value == {}:
            return ""  # nothing to hide (a ping's lead): reads back as {}
        return encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True, default=str))

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj), default=str)
