"""The lead's state machine: the one place a lead's status changes.

``move_lead`` takes the move with a conditional UPDATE (the row must still hold the
status the caller read, so of two actors racing only one moves it), refuses a move
``LEAD_TRANSITIONS`` does not allow, and writes the timeline event, all in one
transaction. A lead is created in its first status (``pinged``, ``no_sale``, or
``posting`` for a direct post) with its first event; every later change comes here.
A test (``tests/leads/test_transitions.py``) reads the code for any other.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .choices import LEAD_TRANSITIONS
from .models import IllegalTransition, Lead, LeadEvent


def move_lead(
    lead: Lead,
    to_status: str,
    *,
    note: str = "",
    from_statuses: Collection[str] = (),
    at: datetime | None = None,
    **fields: Any,
) -> LeadEvent | None:
    """Move ``lead`` to ``to_status`` and set ``fields`` with it; returns the event, or
    None when the row no longer holds the expected status (someone else moved it).

    The expected status is ``lead.status`` as read, or any of ``from_statuses`` (say,
    "posting or pending" for a sale); each must allow the move, or ``IllegalTransition``
    is raised before anything is written. ``lead`` is updated in memory when it moved.
    """
    expected = [lead.status] if not from_statuses else list(from_statuses)
    if lead.status in from_statuses:  # the status as read is the likeliest: try it first
        expected.remove(lead.status)
        expected.insert(0, lead.status)
    for status in expected:
        if to_status not in LEAD_TRANSITIONS.get(status, ()):
            raise IllegalTransition(f"lead {lead.pk}: {status} -> {to_status}")
    at = at or timezone.now()
    # No savepoint of its own: inside a caller's transaction a failure here fails the
    # whole of it anyway, and a savepoint costs two round trips on every move.
    with transaction.atomic(savepoint=False):
        for from_status in expected:
            moved = Lead.objects.filter(pk=lead.pk, status=from_status).update(
                status=to_status, **{"updated_at": at, **fields}
            )
            if moved:
                event = LeadEvent.objects.create(
                    lead=lead, from_status=from_status, to_status=to_status, note=note[:200], at=at
                )
                break
        else:
            return None
    lead.status = to_status
    for name, value in fields.items():
        setattr(lead, name, value)
    return event
