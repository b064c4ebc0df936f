"""State changes of the exchange core's configuration."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from buyers.models import Buyer

from .config_cache import mark_config_changed
from .models import ApiKey, Publisher, new_callback_secret


@transaction.atomic
def create_api_key(
    *,
    kind: str,
    name: str = "main",
    publisher: Publisher | None = None,
    buyer: Buyer | None = None,
    raw_key: str = "",
) -> tuple[ApiKey, str]:
    """A new key and its full text, which is never stored and never shown again."""
    raw_key = raw_key or ApiKey.generate(kind)
    expected = f"sy_{kind}_"
    if not raw_key.startswith(expected) or len(raw_key) < len(expected) + 16:
        raise ValueError(f"a {kind} key must start with {expected} and hold 16+ random characters")
    key = ApiKey(kind=kind, name=name, publisher=publisher, buyer=buyer)
    key.set_key(raw_key)
    key.full_clean()
    key.save()
    return key, raw_key


@transaction.atomic
def revoke_api_keys(keys: Any) -> int:
    count = keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    if count:
        # A queryset update sends no signal; tell the config cache directly.
        mark_config_changed()
    return count


@transaction.atomic
def rotate_callback_secrets(publishers: Iterable[Publisher]) -> list[Publisher]:
    """A new callback secret for each publisher. Callbacks are signed when sent, so every
    one sent from now on, retries included, carries a signature made with the new secret."""
    rotated = []
    for publisher in publishers:
        publisher.callback_secret = new_callback_secret()
        publisher.save(update_fields=["callback_secret", "updated_at"])
        rotated.append(publisher)
    return rotated
