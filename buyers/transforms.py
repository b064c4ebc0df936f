"""Transforms a mapping rule applies to a value on its way to a buyer (SPEC §4).

``compile_transform`` turns one spec (``"digits"``, ``{"truncate": 10}``, …) into a
function that never raises on a lead value; ``text_of`` is the text a buyer sees for a
value, shared by the body formats and the response rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .lead_values import is_missing

Transform = Callable[[Any], Any]


class TransformError(ValueError):
    """A transform that is unknown or has a bad argument."""


_CENT = Decimal("0.01")
_FALSY_TEXT = frozenset({"false", "no", "0", ""})
_NON_DIGITS = re.compile(r"[^0-9]")
_STATE_NAMES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip


def text_of(value: Any) -> str:
    """The text a buyer sees for a value: booleans as true/false, dates in ISO form."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def compile_transform(spec: Any) -> Transform:
    """Compile ``digits``, ``"truncate:5"`` or ``{truncate: 5}`` into a function.

    Every transform but ``default`` leaves a missing value missing. Raises
    ``TransformError`` for an unknown name or a bad argument.
    """
    name, arg = _transform_parts(spec)
    if name in _PLAIN:
        if arg is not None:
            raise TransformError(f"transform {name!r} takes no argument (got {arg!r})")
        return _on_present(_PLAIN[name])
    if name in _WITH_ARG:
        if arg is None or arg == "":
            raise TransformError(f"transform {name!r} needs an argument, e.g. {_EXAMPLES[name]}")
        return _WITH_ARG[name](arg)
    known = ", ".join(sorted([*_PLAIN, *_WITH_ARG]))
    raise TransformError(f"unknown transform {name!r} (one of: {known})")


def _transform_parts(spec: Any) -> tuple[str, Any]:
    if isinstance(spec, str):
        name, sep, arg = spec.partition(":")
        return name.strip(), (arg if sep else None)
    if isinstance(spec, Mapping) and len(spec) == 1:
        ((name, arg),) = spec.items()
        if isinstance(name, str):
            return name.strip(), arg
    raise TransformError(f"a transform is a name or a one-key table, got {spec!r}")


def _on_present(fn: Transform) -> Transform:
    def transform(value: Any) -> Any:
        return value if is_missing(value) else fn(value)

    return transform


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().casefold() not in _FALSY_TEXT
    return bool(value)


def _currency(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    try:
        amount = Decimal(text_of(value).strip().replace(",", "").replace("$", ""))
        return str(amount.quantize(_CENT, ROUND_HALF_UP))
    except InvalidOperation:  # not a number, or too large to carry cents
        return value


def _state_name(value: Any) -> Any:
    return _STATE_NAMES.get(text_of(value).strip().upper(), value)


_PLAIN: dict[str, Transform] = {
    "digits": lambda value: _NON_DIGITS.sub("", text_of(value)),
    "upper": lambda value: text_of(value).upper(),
    "lower": lambda value: text_of(value).lower(),
    "trim": lambda value: text_of(value).strip(),
    "state_name": _state_name,
    "yes_no": lambda value: "Yes" if _truthy(value) else "No",
    "currency": _currency,
}


def _truncate(arg: Any) -> Transform:
    try:
        length = int(arg) if not isinstance(arg, bool | float) else -1
    except (TypeError, ValueError):
        length = -1
    if length < 1:
        raise TransformError(f"truncate needs a positive length, got {arg!r}")
    return _on_present(lambda value: text_of(value)[:length])


def _date_format(arg: Any) -> Transform:
    if not isinstance(arg, str) or "%" not in arg:
        raise TransformError(f"date needs a strftime format such as '%m/%d/%Y', got {arg!r}")

    def reformat(value: Any) -> Any:
        if not isinstance(value, date):
            try:
                value = datetime.fromisoformat(text_of(value).strip())
            except ValueError:
                return value  # not a date: sent as is rather than dropped
        return value.strftime(arg)

    return _on_present(reformat)


def _boolean(arg: Any) -> Transform:
    words = arg.split("/") if isinstance(arg, str) else []
    if len(words) != 2:
        raise TransformError(f"boolean needs 'TRUE/FALSE' words, got {arg!r}")
    yes, no = words
    return _on_present(lambda value: yes if _truthy(value) else no)


def _default(arg: Any) -> Transform:
    return lambda value: arg if is_missing(value) else value


_WITH_ARG: dict[str, Callable[[Any], Transform]] = {
    "truncate": _truncate,
    "date": _date_format,
    "boolean": _boolean,
    "default": _default,
}
_EXAMPLES = {
    "truncate": "truncate:5",
    "date": "'date:%m/%d/%Y'",
    "boolean": "boolean:TRUE/FALSE",
    "default": "default:N/A",
}
