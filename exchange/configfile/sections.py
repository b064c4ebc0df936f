"""Top-level sections of the config file that higher layers own.

The exchange reads and writes verticals, publishers and buyers itself; an app above
it (reporting's ``alerts:``) registers a ``Section`` from its ``AppConfig.ready`` and
the file's reader, import and export call it, so this package imports no such app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .changes import Change
from .reader import Reader


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    # Check the section's node (problems go to the reader) and return what to apply.
    parse: Callable[[Reader, Any, str], Any]
    # Apply what ``parse`` returned, inside the import's transaction.
    apply: Callable[[Any], list[Change]]
    # The section as the export writes it (empty: left out).
    export: Callable[[], list[dict[str, Any]]]


SECTIONS: dict[str, Section] = {}


def register(section: Section) -> None:
    SECTIONS[section.key] = section
