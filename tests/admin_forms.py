"""Helpers for driving admin pages as a person does: log in through the form, submit
a change page with what it shows (plus edits), run a list action."""

from __future__ import annotations

from typing import Any

from django.forms.models import ModelChoiceIteratorValue


def admin_log_in(client: Any, username: str, password: str, token: str = "") -> Any:
    """POST the admin's log-in form; returns the response (302 when it worked)."""
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "otp_token": token},
    )


def _field_values(form: Any, prefix_name: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for bound in form:
        value = bound.value()
        if value is None:
            value = ""
        if isinstance(value, bool):
            if value:
                data[bound.html_name] = "on"
            continue
        if isinstance(value, ModelChoiceIteratorValue):
            value = value.value
        if isinstance(value, str):  # JSON fields' initial data is already JSON text
            data[bound.html_name] = value
            continue
        if isinstance(value, (list, tuple)) and not isinstance(value, str):
            if bound.field.__class__.__name__ == "JSONField":
                value = bound.field.prepare_value(value)
            else:
                data[bound.html_name] = [getattr(v, "pk", v) for v in value]
                continue
        elif isinstance(value, dict) or bound.field.__class__.__name__ == "JSONField":
            value = bound.field.prepare_value(value)
        data[bound.html_name] = getattr(value, "pk", value)
    return data


def change_form_data(response: Any, **edits: Any) -> dict[str, Any]:
    """The data a change page would submit unchanged, with ``edits`` applied."""
    context = response.context
    data = _field_values(context["adminform"].form)
    inlines = context.get("inline_admin_formsets", [])
    for inline in inlines:
        formset = inline.formset
        data.update(_field_values(formset.management_form))
        for form in formset.forms:
            data.update(_field_values(form))
    data.update(edits)
    return data


def run_action(client: Any, changelist: str, action: str, pks: list[Any], **extra: Any) -> Any:
    """Select ``pks`` on a list page and run ``action``, as the action bar does."""
    return client.post(
        changelist, {"action": action, "_selected_action": [str(pk) for pk in pks], **extra}
    )
