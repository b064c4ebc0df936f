"""Price modifiers of fixed-price campaigns (SPEC §5): the price moved by lead attributes.

A modifier is ``{"when": <filter rule or group>, "add": "2.00"}`` or ``{"when": ...,
"multiply": "1.10"}``; ``when`` is written in the filters' language (``buyers.filters``)
and may be left out (always applies). Modifiers apply in order to the campaign's fixed
price; the result is rounded to the cent. A condition reads the fields the lead carries
when it is priced: at a ping, a rule on a post-stage field does not match.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from .filters import compile_condition, validate_filters
from .lead_values import show_rule_value

CENT = Decimal("0.01")
_KEYS = frozenset({"when", "add", "multiply"})

# (price, lead values) -> (new price, what applied), e.g. ["state in [CA, NY]: +2.00"]
Modify = Callable[[Decimal, Mapping[str, Any]], tuple[Decimal, list[str]]]


def _amount(raw: Any) -> Decimal | None:
    if isinstance(raw, bool | float) or not isinstance(raw, str | int | Decimal):
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def modifier_problems(modifiers: Any, *, known_fields: Collection[str] | None = None) -> list[str]:
    """Readable problems with a list of modifiers (empty when valid)."""
    if modifiers in (None, []):
        return []
    if not isinstance(modifiers, list):
        return ['modifiers must be a list, e.g. [{"when": {...}, "add": "2.00"}]']
    problems: list[str] = []
    for number, item in enumerate(modifiers, 1):
        at = f"modifier {number}"
        if not isinstance(item, Mapping):
            problems.append(f"{at}: expected {{when, add}} or {{when, multiply}}")
            continue
        problems += [f"{at}: unexpected key {key!r}" for key in item if key not in _KEYS]
        actions = [key for key in ("add", "multiply") if key in item]
        if len(actions) != 1:
            problems.append(f"{at}: give exactly one of add or multiply")
        else:
            value = _amount(item[actions[0]])
            if value is None:
                problems.append(f'{at}: {actions[0]} needs a decimal amount such as "2.00"')
            elif actions[0] == "multiply" and value <= 0:
                problems.append(f"{at}: multiply needs a factor above 0")
        if item.get("when") is not None:
            for problem in validate_filters(item["when"], known_fields=known_fields):
                problems.append(f"{at}: when: {problem}")
            if "quality." in json.dumps(item["when"], default=str):
                problems.append(f"{at}: when: quality signals are for filters, not prices")
    return problems


def validate_price_modifiers(value: Any) -> None:
    """Model validator: the shape, whatever the vertical (forms check the fields too)."""
    problems = modifier_problems(value)
    if problems:
        raise ValidationError(problems)


def _describe(item: Mapping[str, Any]) -> str:
    when = item.get("when")
    if isinstance(when, Mapping) and {"field", "op"} <= when.keys():
        value = show_rule_value(when["value"]) if "value" in when else ""
        label = f"{when['field']} {when['op']} {value}".strip()
    else:
        label = "always" if when in (None, [], {}) else "rule group"
    if "add" in item:
        amount = _amount(item["add"]) or Decimal(0)
        return f"{label}: {'+' if amount >= 0 else ''}{amount}"
    return f"{label}: x{_amount(item['multiply'])}"


def compile_modifiers(modifiers: list[Any] | None) -> Modify | None:
    """The modifiers as one function, None when there are none. Raises ``ValueError``
    on modifiers that do not validate."""
    if not modifiers:
        return None
    problems = modifier_problems(modifiers)
    if problems:
        raise ValueError("; ".join(problems))
    steps: list[tuple[Callable[[Mapping[str, Any]], bool], Decimal | None, Decimal | None, str]]
    steps = []
    for item in modifiers:
        test = compile_condition(item.get("when") or [])
        add = _amount(item["add"]) if "add" in item else None
        factor = None if "add" in item else _amount(item["multiply"])
        steps.append((test, add, factor, _describe(item)))

    def modify(price: Decimal, values: Mapping[str, Any]) -> tuple[Decimal, list[str]]:
        applied = []
        for test, add, factor, label in steps:
            if not test(values):
                continue
            if add is not None:
                price += add
            elif factor is not None:
                price *= factor
            applied.append(label)
        return price.quantize(CENT, rounding=ROUND_HALF_UP), applied

    return modify
