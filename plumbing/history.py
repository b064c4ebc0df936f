"""Change history of configuration (django-simple-history): who changed what, when.

Models opt in with ``history = HistoricalRecords(...)``. In the admin a request's
user is recorded (simple-history's middleware); elsewhere ``attributed(user, reason)``
names who is acting, e.g. a config import: its rows carry the importing user, if any,
and the reason "config import". ``HistoryAdmin`` lists each version with the fields
it changed and lets a person with change permission restore it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin
from simple_history.signals import pre_create_historical_record


@dataclass(frozen=True, slots=True)
class Attribution:
    user: Any
    reason: str


_acting: ContextVar[Attribution | None] = ContextVar("history_attribution", default=None)


@contextmanager
def attributed(user: Any = None, reason: str = "") -> Iterator[None]:
    """History rows written inside the block name ``user`` and ``reason``."""
    token = _acting.set(Attribution(user, reason))
    try:
        yield
    finally:
        _acting.reset(token)


def _attribute(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    acting = _acting.get()
    if acting is None:
        return
    if acting.user is not None and history_instance.history_user_id is None:
        history_instance.history_user = acting.user
    if acting.reason and not history_instance.history_change_reason:
        history_instance.history_change_reason = acting.reason


pre_create_historical_record.connect(_attribute, dispatch_uid="switchyard-history-attribution")


class HistoryAdmin(SimpleHistoryAdmin):
    """A config model's admin with its change history: each version's changed fields
    (old → new, templates/simple_history/object_history_list.html), and restore for
    those who may change the object."""

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> HttpResponse:
        # simple-history lets anyone who may view the history post this form, and saving
        # it restores the version: only someone who may change the object may restore.
        if request.method == "POST":
            obj = self.get_object(request, object_id)
            if obj is None or not self.has_change_permission(request, obj):
                raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
