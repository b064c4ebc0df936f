"""Showing a lead's personal data in clear: permitted people only, and always recorded."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from .models import Lead, PiiReveal

REVEAL_PERMISSION = "leads.reveal_pii"


@transaction.atomic
def reveal_pii(lead: Lead, *, user: Any, reason: str) -> tuple[dict[str, Any], PiiReveal]:
    """The lead's personal data, decrypted, and the record that ``user`` saw it.

    Raises ``PermissionDenied`` for anyone without ``leads.reveal_pii`` (superusers have
    it), and ``ValueError`` without a reason or when the data was erased.
    """
    if not user.has_perm(REVEAL_PERMISSION):
        raise PermissionDenied("Revealing personal data needs the leads.reveal_pii permission.")
    reason = reason.strip()
    if not reason:
        raise ValueError("Say why you need to see this lead's personal data.")
    if lead.pii_erased_at is not None:
        raise ValueError("This lead's personal data was erased.")
    record = PiiReveal.objects.create(lead=lead, user=user, reason=reason[:200])
    return dict(lead.pii), record
