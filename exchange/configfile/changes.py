"""The readable diff an import prints: one line per object, then ``field: old → new``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import models

CREATED, CHANGED, UNCHANGED, DELETED = "created", "changed", "unchanged", "deleted"
_SHOW_LIMIT = 160


@dataclass(slots=True)
class Change:
    """What an import did to one object. ``major`` objects (verticals, publishers,
    buyers, campaigns) are listed even when unchanged; their parts only when touched."""

    label: str
    status: str = UNCHANGED
    details: list[str] = field(default_factory=list)
    children: list[Change] = field(default_factory=list)
    major: bool = False

    @property
    def touched(self) -> bool:
        return self.status != UNCHANGED or any(c.touched for c in self.children)

    def lines(self, depth: int = 0) -> Iterator[str]:
        pad = "  " * depth
        yield f"{pad}{self.label}: {self.status}"
        for detail in self.details:
            yield f"{pad}    {detail}"
        for child in self.children:
            if child.major or child.touched:
                yield from child.lines(depth + 1)

    def walk(self) -> Iterator[Change]:
        yield self
        for child in self.children:
            yield from child.walk()


def summary(changes: list[Change]) -> Counter[str]:
    """How many objects each status, over every object the import looked at."""
    counts: Counter[str] = Counter()
    for change in changes:
        for each in change.walk():
            if each.status != UNCHANGED or each.major:
                counts[each.status] += 1
    return counts


def show(value: Any) -> str:
    """A value as the diff shows it: decimals plainly, structures as compact JSON."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if value is None:
        return "none"
    if isinstance(value, str):
        return repr(value) if value == "" or value != value.strip() else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 1] + "…"
    return str(value)


def decimal_text(value: Decimal) -> str:
    """``2.0000`` as ``2.00``; more places only when they carry something."""
    cents = value.quantize(Decimal("0.01"))
    return str(cents) if cents == value else format(value.normalize(), "f")


def same(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return old is not None and new is not None and Decimal(old) == Decimal(new)
    if isinstance(old, list | dict) or isinstance(new, list | dict):
        # JSON equality that tells true from 1 and keeps key order out of it.
        return json.dumps(old, sort_keys=True, default=str) == json.dumps(
            new, sort_keys=True, default=str
        )
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    return bool(old == new)  # text choices compare equal to their plain strings


def assign(instance: models.Model, values: dict[str, Any], change: Change) -> bool:
    """Set ``values`` on ``instance``, noting each difference; True when any."""
    moved = False
    for name, new in values.items():
        old = getattr(instance, name)
        if same(old, new):
            continue
        if name == "secret":
            change.details.append("secret: replaced" if old else "secret: set")
        else:
            change.details.append(f"{name}: {show(old)} → {show(new)}")
        setattr(instance, name, new)
        moved = True
    if moved and change.status == UNCHANGED:
        change.status = CHANGED
    return moved
