"""The rule editors of the campaign and endpoint forms.

Each rule field (filters, schedule, retry backoff, mapping, response rules, headers) is
a textarea holding the JSON the config file uses, pretty-printed. ``rule_editor.js``
(a static file: no inline script, so it runs under the CSP) puts structured rows beside
it and keeps the textarea current; without JavaScript the textarea is the editor. Either
way the server checks what is posted with the config import's own checks.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

EDITORS = ("filters", "schedule", "backoff", "mapping", "response", "headers")


def pretty_json(value: Any) -> str:
    """The JSON text shown in a rule box: two-space indents, key order kept."""
    return json.dumps(value, indent=2, ensure_ascii=False)


class PrettyJSONField(forms.JSONField):
    """A JSON form field whose box shows the value indented, not on one line; a blank
    box is ``empty()`` (an empty list or table), never JSON ``null``."""

    def __init__(self, *, empty: type = list, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.empty = empty

    def to_python(self, value: Any) -> Any:
        result = super().to_python(value)
        return self.empty() if result is None else result

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value  # what was typed, to be fixed
        return pretty_json(value)


class RuleEditor(forms.Textarea):
    """A JSON textarea that ``rule_editor.js`` turns into structured rows.

    ``kind`` is one of ``EDITORS``. The vertical's fields reach the script through
    ``data-`` attributes set by the form (``set_schemas``), never through inline code.
    """

    class Media:
        css = {"all": ["buyers/rule_editor.css"]}
        js = ["buyers/rule_editor.js"]

    def __init__(self, kind: str, attrs: dict[str, Any] | None = None, rows: int = 8) -> None:
        assert kind in EDITORS
        base = {"rows": rows, "cols": 100, "class": "vLargeTextField rule-json"}
        super().__init__({**base, "data-rule-editor": kind, **(attrs or {})})

    def set_schemas(self, schemas: dict[str, list[dict[str, Any]]], vertical: Any = None) -> None:
        """Give the script every vertical's fields (by id), and the fixed vertical when
        the page has no vertical box (an endpoint's own page)."""
        self.attrs["data-schemas"] = json.dumps(schemas, separators=(",", ":"))
        if vertical is not None:
            self.attrs["data-vertical"] = str(vertical)
