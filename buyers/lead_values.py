"""Lead values as rules read them: total conversions that never raise on any input.

Filters compare lead values with these; a value that cannot be read as the rule needs
(a number, a date, text) simply fails the rule. ``show`` renders a value for the reason
a filter gives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,9})?")
SHOW_LIMIT = 40


def is_missing(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list | tuple | dict | set | frozenset):
        return not raw
    return False


def is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | Decimal | date) and as_text(value) is not None


def is_number_type(raw: Any) -> bool:
    return isinstance(raw, int | float | Decimal) and not isinstance(raw, bool)


def as_text(raw: Any) -> str | None:
    """The text of a scalar lead value (booleans as true/false), None for anything else."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, date):
        return raw.isoformat()
    if isinstance(raw, int | Decimal | float):
        try:
            return str(raw)
        except ValueError:  # an int beyond Python's digit limit for str()
            return None
    return None


def folded(value: Any) -> str:
    return (as_text(value) or "").casefold()


def as_number(raw: Any) -> Decimal | None:
    """A finite Decimal for a number or a numeric string, else None (booleans are not numbers)."""
    try:
        if isinstance(raw, bool):
            return None
        if isinstance(raw, Decimal):
            return raw if raw.is_finite() else None
        if isinstance(raw, int):
            return Decimal(raw)
        if isinstance(raw, float):
            # Through repr so that 0.1 means 0.1, not its binary approximation.
            return Decimal(repr(raw)) if math.isfinite(raw) else None
        if isinstance(raw, str):
            text = raw.strip()
            return Decimal(text) if NUMBER_RE.fullmatch(text) else None
    except (InvalidOperation, ValueError, OverflowError):
        return None
    return None


def as_date(raw: Any) -> date | None:
    """A date for a date, datetime or ISO date/datetime string, else None."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if not (8 <= len(text) <= 40 and text[:4].isdigit()):
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).date()
        except ValueError:
            return None
    return None


def ordering_key(value: Any) -> Callable[[Any], Decimal | date | None] | None:
    """How a rule's bound orders lead values: as numbers first, else as ISO dates."""
    if as_number(value) is not None:
        return as_number
    if isinstance(value, str | date) and as_date(value) is not None:
        return as_date
    return None


def show(raw: Any) -> str:
    text = as_text(raw)
    if text is None:
        text = type(raw).__name__
    elif isinstance(raw, str):
        return '"' + clip(text) + '"'
    return clip(text)


def show_rule_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(clip(as_text(v) or "?") for v in value) + "]"
    return clip(as_text(value) or "?")


def clip(text: str) -> str:
    return text if len(text) <= SHOW_LIMIT else text[: SHOW_LIMIT - 1] + "…"
