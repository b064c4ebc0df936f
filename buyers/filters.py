"""Campaign filters (SPEC §5): validate them, and compile them into fast predicates.

A filter is stored as JSON in the config-file shape (SPEC §9): a rule
``{"field", "op", "value"}``, a group ``{"any": [...]}`` or ``{"all": [...]}`` nested to any
depth, and a top-level list meaning "all of these". Publisher and sub_id allow/deny lists are
ordinary rules on the pseudo-fields ``publisher`` (the publisher's slug) and ``sub_id``.

Compiling happens once, when the config cache loads, and raises ``FilterError`` on a rule
that does not validate. The closures it returns run on the ping hot path for every campaign:
they do no parsing and no regex compilation, and they never raise on any lead input.

A ping carries no post-stage field (names, ``dob``, email...), so a rule on one cannot be
decided then: the auction passes ``DEFERRED`` as those fields' value, every rule reading
only ``DEFERRED`` passes, and the post checks the rules again on the full lead before any
buyer gets it (SPEC §7).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any, NamedTuple

from plumbing.zipdata import distance_miles
from plumbing.zipdata import lookup as zip_lookup

from .lead_values import (
    as_date,
    as_number,
    as_text,
    clip,
    folded,
    is_missing,
    is_number_type,
    is_scalar,
    ordering_key,
    show,
    show_rule_value,
)

Values = Mapping[str, Any]
Predicate = Callable[[Values], bool]
Today = Callable[[], date]

PSEUDO_FIELDS = frozenset({"publisher", "sub_id"})
# Lead-quality signals (exchange.quality_signals), worked out from the full lead before a sale.
QUALITY_FIELDS = frozenset(
    {
        "quality.disposable_email", "quality.velocity_ip", "quality.velocity_phone",
        "quality.phone_line_type", "quality.ip_country", "quality.ip_region",
        "quality.ip_matches_state",
    }
)  # fmt: skip
OPERATORS = frozenset(
    {
        "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains",
        "starts_with", "regex", "exists", "not_exists", "age_between", "zip_radius",
    }
)  # fmt: skip


class _Deferred:
    """The value of a field the lead does not carry yet (a post-stage field at ping)."""

    def __repr__(self) -> str:
        return "DEFERRED"


DEFERRED: Any = _Deferred()

_ORDERED = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_LIST_OPS = frozenset({"in", "not_in"})
_TEXT_OPS = frozenset({"contains", "starts_with"})
_NO_VALUE_OPS = frozenset({"exists", "not_exists"})
_RULE_KEYS = frozenset({"field", "op", "value"})


class FilterError(ValueError):
    """A filter that does not validate; its message lists every problem."""


def compile_condition(
    cond: Mapping[str, Any] | list[Any], *, today: Today | None = None
) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a rule, a group or a list of rules (all must pass) into a predicate.

    The predicate takes a flat dict of lead values. ``today`` is the clock used by
    ``age_between`` (defaults to ``date.today``). Raises ``FilterError`` when ``cond`` is
    not valid.
    """
    if cond is None or (isinstance(cond, list) and not cond):
        return _true
    _raise_on_errors(cond)
    return _compile_node(cond, today or date.today).test


def compile_filters(
    filters: list[Any] | None, today: Today | None = None
) -> Callable[[Mapping[str, Any]], str | None]:
    """Compile a campaign's filters into a check returning None (pass) or a reason.

    The reason names the first failing rule and the lead's value, e.g.
    ``state in [TX, OK]: got "CA"`` or ``credit_tier missing``; it is shown in the
    per-lead trace. Raises ``FilterError`` when the filters are not valid.
    """
    if not filters:
        return _pass_all
    _raise_on_errors(filters)
    node = _compile_node(filters, today or date.today)
    test, explain = node.test, node.explain

    def check(values: Mapping[str, Any]) -> str | None:
        return None if test(values) else explain(values)

    return check


def validate_filters(filters: Any, *, known_fields: Collection[str] | None = None) -> list[str]:
    """Return readable problems with ``filters`` (empty when they are valid).

    With ``known_fields`` (a vertical's field names), a rule on any other field is an
    error; the pseudo-fields ``publisher`` and ``sub_id`` and the ``quality.*`` signals
    are always known.
    """
    known = (
        None if known_fields is None else frozenset(known_fields) | PSEUDO_FIELDS | QUALITY_FIELDS
    )
    if filters is None:
        return []
    if isinstance(filters, list):
        errors: list[str] = []
        for i, node in enumerate(filters, 1):
            errors += _node_errors(node, str(i), known)
        return errors
    if isinstance(filters, Mapping):
        return _node_errors(filters, "1", known)
    return [f"filters must be a list of rules, got {type(filters).__name__}"]


def _pass_all(values: Mapping[str, Any]) -> str | None:
    return None


def _true(values: Mapping[str, Any]) -> bool:
    return True


def _raise_on_errors(cond: Any) -> None:
    errors = validate_filters(cond)
    if errors:
        raise FilterError("; ".join(errors))


# --- validation ---------------------------------------------------------------------------


def _node_errors(node: Any, where: str, known: frozenset[str] | None) -> list[str]:
    if isinstance(node, list):
        node = {"all": node}
    if not isinstance(node, Mapping):
        return [f"rule {where}: expected {{field, op, value}} or an any/all group"]
    kind = _group_kind(node)
    if kind is None:
        return _rule_errors(node, where, known)
    if len(node) != 1:
        return [f"rule {where}: a group has a single key, any or all (got {_keys(node)})"]
    children = node[kind]
    if not isinstance(children, list):
        return [f"rule {where}: an {kind} group needs a list of rules"]
    if kind == "any" and not children:
        return [f"rule {where}: an any group needs at least one rule"]
    errors: list[str] = []
    for i, child in enumerate(children, 1):
        errors += _node_errors(child, f"{where}.{i}", known)
    return errors


def _rule_errors(rule: Mapping[str, Any], where: str, known: frozenset[str] | None) -> list[str]:
    field, op, value = rule.get("field"), rule.get("op"), rule.get("value")
    at = f"rule {where} ({field})" if isinstance(field, str) and field else f"rule {where}"
    errors = [f"{at}: unexpected key {key!r}" for key in rule if key not in _RULE_KEYS]
    if not isinstance(op, str) or op not in OPERATORS:
        known_ops = ", ".join(sorted(OPERATORS))
        found = "missing op" if op is None else f"unknown op {op!r}"
        return [*errors, f"{at}: {found} (one of: {known_ops})"]
    if field is None and op != "age_between":
        errors.append(f"{at}: missing field")
    elif field is not None and (not isinstance(field, str) or not field.strip()):
        errors.append(f"{at}: field must be a field name")
    elif known is not None and field is not None and field not in known:
        errors.append(f"{at}: unknown field {field!r}")
    problem = _value_problem(op, value)
    if problem:
        errors.append(f"{at}: {problem}")
    return errors


def _value_problem(op: str, value: Any) -> str | None:
    if op in _NO_VALUE_OPS:
        return None
    if op in ("eq", "ne"):
        return None if is_scalar(value) else f"{op} needs a single value"
    if op in _LIST_OPS:
        if not isinstance(value, list) or not all(is_scalar(v) for v in value):
            return f"{op} needs a list of values"
        return f"{op} needs at least one value" if not value else None
    if op in _ORDERED:
        return None if ordering_key(value) else f"{op} needs a number or an ISO date"
    if op in _TEXT_OPS:
        items = value if isinstance(value, list) else [value]
        ok = items and all(is_scalar(v) and not isinstance(v, bool) for v in items)
        return None if ok else f"{op} needs a text or a list of texts"
    if op == "zip_radius":
        centre_miles = _zip_radius_value(value)
        if centre_miles is None:
            return 'zip_radius needs [ZIP, miles] or {"zip": ZIP, "miles": N} with miles > 0'
        if zip_lookup(centre_miles[0]) is None:
            return f"zip_radius: {centre_miles[0]} is not a known US ZIP code"
        return None
    if op == "regex":
        if not isinstance(value, str):
            return "regex needs a pattern string"
        try:
            re.compile(value)
        except re.error as exc:
            return f"invalid regex {value!r}: {exc}"
        return None
    # between and age_between
    if not isinstance(value, list) or len(value) != 2:
        return f"{op} needs a 2-item list [low, high]"
    low, high = value
    if op == "age_between":
        low, high = as_number(low), as_number(high)
        if low is None or high is None:
            return "age_between bounds must be numbers of years"
    else:
        key = ordering_key(low)
        if key is None or key is not ordering_key(high):
            return "between bounds must be both numbers or both ISO dates"
        low, high = key(low), key(high)
    return f"{op} bounds are reversed (low > high)" if low > high else None


def _group_kind(node: Mapping[str, Any]) -> str | None:
    if "all" in node:
        return "all"
    return "any" if "any" in node else None


def _keys(node: Mapping[str, Any]) -> str:
    return ", ".join(str(k) for k in node)


# --- compilation --------------------------------------------------------------------------


class _Node(NamedTuple):
    test: Predicate
    # Reasons are only built for a lead that failed, so a passing lead costs one call.
    explain: Callable[[Values], str]
    is_any: bool = False


def _compile_node(node: Any, today: Today) -> _Node:
    if isinstance(node, list):
        return _compile_all([_compile_node(child, today) for child in node])
    kind = _group_kind(node)
    if kind is None:
        return _compile_rule(node, today)
    children = [_compile_node(child, today) for child in node[kind]]
    return _compile_all(children) if kind == "all" else _compile_any(children)


def _compile_all(children: list[_Node]) -> _Node:
    if len(children) == 1:
        return children[0]
    tests = tuple(child.test for child in children)

    def test(values: Values) -> bool:
        return all(child_test(values) for child_test in tests)

    def explain(values: Values) -> str:
        for child in children:
            if not child.test(values):
                return child.explain(values)
        return "all rules passed"

    return _Node(test, explain)


def _compile_any(children: list[_Node]) -> _Node:
    tests = tuple(child.test for child in children)

    def test(values: Values) -> bool:
        return any(child_test(values) for child_test in tests)

    def explain(values: Values) -> str:
        # Nested any-groups are parenthesised so "; " keeps one meaning per level.
        parts = [f"({c.explain(values)})" if c.is_any else c.explain(values) for c in children]
        return f"any of {len(children)} rules failed: " + "; ".join(parts)

    return _Node(test, explain, is_any=True)


def _compile_rule(rule: Mapping[str, Any], today: Today) -> _Node:
    op: str = rule["op"]
    value: Any = rule.get("value")
    if op == "age_between":
        return _compile_age(rule.get("field"), value, today)
    field: str = rule["field"]
    label = f"{field} {op}" if op in _NO_VALUE_OPS else f"{field} {op} {show_rule_value(value)}"
    if op == "zip_radius":
        centre, miles = _zip_radius_value(value)  # type: ignore[misc]
        label = f"{field} within {clip(str(miles))} miles of {centre}"

    def explain(values: Values) -> str:
        raw = values.get(field)
        if is_missing(raw):
            return f"{field} missing"
        return f"{label}: got {show(raw)}"

    if op in _NO_VALUE_OPS:
        wanted = op == "exists"

        def test_presence(values: Values) -> bool:
            raw = values.get(field)
            return raw is DEFERRED or is_missing(raw) is not wanted

        return _Node(test_presence, explain)

    accepts = _value_test(op, value)
    # ne and not_in are negative rules: a lead without the field is not what they exclude.
    missing_passes = op in ("ne", "not_in")

    def test(values: Values) -> bool:
        raw = values.get(field)
        if raw is DEFERRED:
            return True
        if is_missing(raw):
            return missing_passes
        return accepts(raw)

    return _Node(test, explain)


def _ordering(value: Any) -> Callable[[Any], Any]:
    """How a validated rule's bound orders lead values."""
    key = ordering_key(value)
    assert key is not None  # the rule was validated: its bound is a number or a date
    return key


def _value_test(op: str, value: Any) -> Callable[[Any], bool]:
    """The test of one present lead value, with everything about ``value`` precomputed."""
    if op in ("eq", "ne", "in", "not_in"):
        matches = _equality(value if isinstance(value, list) else [value])
        if op in ("eq", "in"):
            return matches
        return lambda raw: not matches(raw)
    if op in _ORDERED:
        key = _ordering(value)
        bound, compare = key(value), _ORDERED[op]

        def ordered(raw: Any) -> bool:
            x = key(raw)
            return x is not None and compare(x, bound)

        return ordered
    if op == "between":
        key = _ordering(value[0])
        low, high = key(value[0]), key(value[1])

        def between(raw: Any) -> bool:
            x = key(raw)
            return x is not None and low <= x <= high

        return between
    if op in _TEXT_OPS:
        needles = tuple(folded(v) for v in (value if isinstance(value, list) else [value]))
        if op == "starts_with":
            return lambda raw: (t := as_text(raw)) is not None and t.casefold().startswith(needles)
        return lambda raw: (
            (t := as_text(raw)) is not None and any(n in t.casefold() for n in needles)
        )
    if op == "zip_radius":
        return _within_radius(value)
    pattern = re.compile(value)  # regex
    return lambda raw: (t := as_text(raw)) is not None and pattern.search(t) is not None


def _zip_radius_value(value: Any) -> tuple[str, Decimal] | None:
    """(centre ZIP, miles) of a zip_radius rule's value, or None when malformed."""
    if isinstance(value, Mapping):
        centre, miles = value.get("zip"), value.get("miles")
        if set(value) - {"zip", "miles"}:
            return None
    elif isinstance(value, list) and len(value) == 2:
        centre, miles = value
    else:
        return None
    number = as_number(miles)
    if not isinstance(centre, str | int) or isinstance(centre, bool) or number is None:
        return None
    text = str(centre).strip()
    if not re.fullmatch(r"\d{5}", text, re.ASCII) or number <= 0:
        return None
    return text, number


def _within_radius(value: Any) -> Callable[[Any], bool]:
    centre_zip, miles = _zip_radius_value(value)  # type: ignore[misc]
    centre = zip_lookup(centre_zip)
    assert centre is not None  # validated
    limit = float(miles)
    # One degree of latitude is about 69 miles: a cheap box before the trigonometry.
    box = limit / 69.0 + 0.01

    def within(raw: Any) -> bool:
        text = as_text(raw)
        place = zip_lookup(text.strip()[:5]) if text else None
        if place is None or abs(place.lat - centre.lat) > box:
            return False
        return distance_miles(centre, place) <= limit

    return within


def _equality(choices: list[Any]) -> Callable[[Any], bool]:
    """Case-insensitive text equality, plus numeric equality when a number is involved.

    ``75001`` matches ``"75001"`` as text; ``Decimal("12.50")`` matches ``12.5`` as numbers;
    but two strings never compare numerically, so ``"01234"`` does not match ``"1234"``.
    """
    texts = frozenset(folded(v) for v in choices)
    numbers = frozenset(n for v in choices if (n := as_number(v)) is not None)
    typed_numbers = frozenset(as_number(v) for v in choices if is_number_type(v))

    def matches(raw: Any) -> bool:
        text = as_text(raw)
        if text is not None and text.casefold() in texts:
            return True
        if is_number_type(raw):
            return as_number(raw) in numbers
        if typed_numbers and isinstance(raw, str):
            return as_number(raw) in typed_numbers
        return False

    return matches


def _compile_age(field: str | None, value: list[Any], today: Today) -> _Node:
    # A rule's own field is read first, then the standard dob, then a plain age field.
    sources = tuple(dict.fromkeys([f for f in (field, "dob", "age") if f]))
    low, high = as_number(value[0]), as_number(value[1])
    label = f"{field + ' ' if field else ''}age_between [{as_text(value[0])}, {as_text(value[1])}]"

    def age_of(values: Values) -> Decimal | int | None:
        for source in sources:
            raw = values.get(source)
            if raw is DEFERRED:
                continue
            born = as_date(raw)
            if born is not None:
                now = today()
                return now.year - born.year - ((now.month, now.day) < (born.month, born.day))
            years = as_number(raw)
            if years is not None:
                return years.to_integral_value(rounding=ROUND_FLOOR)
        return None

    def test(values: Values) -> bool:
        age = age_of(values)
        if age is None:
            # Not known before the post (dob is post-stage): decided there.
            return any(values.get(source) is DEFERRED for source in sources)
        return low <= age <= high  # type: ignore[operator]

    def explain(values: Values) -> str:
        age = age_of(values)
        if age is None:
            return f"{'/'.join(sources)} missing"
        return f"{label}: got age {age}"

    return _Node(test, explain)
