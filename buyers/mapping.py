"""Field mappings (SPEC §4): how a lead's values become the body sent to a buyer.

A mapping is an ordered list of rules stored as JSON in the config-file shape (SPEC §9):
``{to, from}``, ``{to, value}``, ``{to, template}``, ``{to, from, split, index}``,
``{to, from, map, default}``, each optionally with ``transforms`` and ``when``.

Rules are validated when an admin saves them and compiled once when the config cache
loads. The compiled function is all the ping hot path runs per lead: no parsing, no regex
compilation, and it never raises on any lead value.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Collection, Mapping
from typing import Any

from plumbing.fields import PII_FIELDS

from .filters import compile_condition, validate_filters
from .lead_values import is_missing
from .transforms import TransformError, compile_transform, text_of

SPECIAL_SOURCES = frozenset(
    {"lead.id", "bid.reference", "bid.price", "publisher.id", "sub_id", "lead.created_at"}
)
# No bid exists while a lead is being pinged: these only make sense in a post.
BID_SOURCES = frozenset({"bid.reference", "bid.price"})

Values = Mapping[str, Any]
Source = Callable[[Values], Any]
Writer = Callable[[dict[str, Any], Any], None]
MappedLead = Callable[[Values], dict[str, Any]]

_RULE_KEYS = frozenset(
    {"to", "from", "value", "template", "split", "index", "map", "default", "transforms", "when"}
)
_SOURCE_KINDS = ("from", "value", "template")
_FORMATTER = string.Formatter()


class MappingError(ValueError):
    """A mapping that does not validate; its message lists every problem."""


def validate_mapping(rules: Any, *, known_fields: Collection[str], stage: str) -> list[str]:
    """Return readable problems with a mapping (empty when it is valid).

    Every field a rule reads (``from``, template placeholders, ``when`` fields) must be in
    ``known_fields`` or be a special source. For ``stage == "ping"`` personal fields and
    the bid's reference and price are refused: a ping never carries them.
    """
    if not isinstance(rules, list):
        return [f"a mapping must be a list of rules, got {type(rules).__name__}"]
    known = frozenset(known_fields) | SPECIAL_SOURCES
    errors: list[str] = []
    for number, rule in enumerate(rules, 1):
        at = _label(number, rule)
        problems, sources = _rule_problems(rule)
        errors += [f"{at}: {p}" for p in problems]
        for field in dict.fromkeys(sources):
            problem = _source_problem(field, known, stage)
            if problem:
                errors.append(f"{at}: {problem}")
    return errors + _target_conflicts(rules)


def compile_mapping(rules: Any) -> MappedLead:
    """Compile a mapping into a function from flat lead values to a nested body.

    The input holds lead fields by name and special sources by dotted name
    (``{"zip": "75001", "lead.id": "…", "bid.reference": "R1"}``). An empty mapping
    passes every lead field through unchanged. Raises ``MappingError`` on invalid rules
    (fields are not checked against a vertical here: ``validate_mapping`` does that).
    """
    if rules is None:
        rules = []
    if not isinstance(rules, list):
        raise MappingError(f"a mapping must be a list of rules, got {type(rules).__name__}")
    errors = [f"{_label(n, r)}: {p}" for n, r in enumerate(rules, 1) for p in _rule_problems(r)[0]]
    errors += _target_conflicts(rules)
    if errors:
        raise MappingError("; ".join(errors))
    if not rules:
        return _pass_through
    compiled = tuple(_compile_rule(rule) for rule in rules)

    def map_lead(values: Values) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for apply in compiled:
            apply(values, out)
        return out

    return map_lead


def _pass_through(values: Values) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in SPECIAL_SOURCES and "." not in k}


# --- validation ---------------------------------------------------------------------------


def _label(number: int, rule: Any) -> str:
    target = rule.get("to") if isinstance(rule, Mapping) else None
    return f"rule {number} ({target})" if isinstance(target, str) and target else f"rule {number}"


def _rule_problems(rule: Any) -> tuple[list[str], list[str]]:
    """(problems, fields the rule reads) of one rule, without looking at any vertical."""
    if not isinstance(rule, Mapping):
        return ["expected a rule like {to, from}"], []
    errors = [f"unexpected key {key!r}" for key in rule if key not in _RULE_KEYS]
    sources: list[str] = []
    if _target(rule.get("to")) is None:
        errors.append("'to' must be a target name such as zip_code or contact.email")
    kinds = [kind for kind in _SOURCE_KINDS if kind in rule]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        errors.append(f"give exactly one of from, value, template (found {found})")
    if "from" in rule:
        field = rule["from"]
        if isinstance(field, str) and field.strip():
            sources.append(field)
        else:
            errors.append("'from' must be a field name")
    if "template" in rule:
        fields, problem = _template_fields(rule["template"])
        sources += fields
        if problem:
            errors.append(problem)
    errors += _shape_problems(rule)
    for spec in _transform_specs(rule, errors):
        try:
            compile_transform(spec)
        except TransformError as exc:
            errors.append(str(exc))
    if "when" in rule:
        when = rule["when"]
        if isinstance(when, Mapping | list):
            errors += [f"when: {p}" for p in validate_filters(when)]
            sources += _condition_fields(when)
        else:
            errors.append("'when' must be a condition {field, op, value} or an any/all group")
    return errors, sources


def _shape_problems(rule: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    if ("split" in rule or "map" in rule) and "from" not in rule:
        errors.append("split and map read a field: they need 'from'")
    if "split" in rule:
        sep = rule["split"]
        if not isinstance(sep, str) or not sep:
            errors.append("'split' must be a non-empty separator such as ' '")
    if "index" in rule:
        index = rule["index"]
        if "split" not in rule:
            errors.append("'index' only goes with 'split'")
        elif not isinstance(index, int) or isinstance(index, bool):
            errors.append("'index' must be a whole number (0 is the first part, -1 the last)")
    if "map" in rule and not isinstance(rule["map"], Mapping):
        errors.append("'map' must be a table such as {own: Y, rent: N}")
    return errors


def _template_fields(template: Any) -> tuple[list[str], str | None]:
    if not isinstance(template, str):
        return [], "'template' must be text such as '{first_name} {last_name}'"
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as exc:
        return [], f"template {template!r} is malformed: {exc}"
    fields: list[str] = []
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if not field.strip() or spec or conversion:
            return fields, f"template placeholders are plain field names, got {{{field}...}}"
        fields.append(field)
    return fields, None


def _transform_specs(rule: Mapping[str, Any], errors: list[str]) -> list[Any]:
    specs = rule.get("transforms", [])
    if not isinstance(specs, list):
        errors.append("'transforms' must be a list such as [digits, {truncate: 5}]")
        return []
    return specs


def _condition_fields(node: Any) -> list[str]:
    if isinstance(node, list):
        return [f for child in node for f in _condition_fields(child)]
    if not isinstance(node, Mapping):
        return []
    for group in ("all", "any"):
        if group in node:
            return _condition_fields(node[group])
    field = node.get("field")
    return [field] if isinstance(field, str) and field else []


def _source_problem(field: str, known: frozenset[str], stage: str) -> str | None:
    if stage == "ping":
        if field in PII_FIELDS:
            return f"{field!r} is personal data: it is never sent in a ping"
        if field in BID_SOURCES:
            return f"{field!r} does not exist at ping time (there is no bid yet)"
    if field not in known:
        return f"unknown field {field!r}"
    return None


def _target(to: Any) -> tuple[str, ...] | None:
    """The path of a target: ``contact.email`` and ``lead/ref`` both nest."""
    if not isinstance(to, str):
        return None
    path = tuple(to.replace("/", ".").split("."))
    return path if all(part.strip() for part in path) else None


def _target_conflicts(rules: list[Any]) -> list[str]:
    # A target that is also the parent of another would be both a value and an object.
    paths = {p for rule in rules if isinstance(rule, Mapping) if (p := _target(rule.get("to")))}
    errors = []
    for path in sorted(paths):
        for cut in range(1, len(path)):
            if path[:cut] in paths:
                parent, child = ".".join(path[:cut]), ".".join(path)
                errors.append(f"target {parent!r} is both a value and the parent of {child!r}")
    return errors


# --- compilation --------------------------------------------------------------------------


def _compile_rule(rule: Mapping[str, Any]) -> Callable[[Values, dict[str, Any]], None]:
    source = _compile_source(rule)
    transforms = tuple(compile_transform(spec) for spec in rule.get("transforms", []))
    write = _writer(_target(rule["to"]))  # type: ignore[arg-type]  # validated
    condition = _compile_when(rule.get("when"))
    has_default, default = "default" in rule, rule.get("default")
    # A static value is written as given, even empty: the author asked for it.
    always = "value" in rule

    def apply(values: Values, out: dict[str, Any]) -> None:
        if condition is not None and not condition(values):
            return
        value = source(values)
        if has_default and is_missing(value):
            value = default
        for transform in transforms:
            value = transform(value)
        if always or not is_missing(value):
            write(out, value)

    return apply


def _compile_when(when: Any) -> Callable[[Values], bool] | None:
    if when is None:
        return None
    return compile_condition(when)


def _compile_source(rule: Mapping[str, Any]) -> Source:
    if "value" in rule:
        static = rule["value"]
        return lambda values: static
    if "template" in rule:
        return _compile_template(rule["template"])
    field: str = rule["from"]
    read: Source = lambda values: values.get(field)  # noqa: E731
    if "split" in rule:
        read = _compile_split(read, rule["split"], rule.get("index", 0))
    if "map" in rule:
        read = _compile_table(read, rule["map"], rule.get("default"), "default" in rule)
    return read


def _compile_template(template: str) -> Source:
    parts = tuple((literal, field) for literal, field, _, _ in _FORMATTER.parse(template))
    has_fields = any(field is not None for _, field in parts)

    def render(values: Values) -> str | None:
        chunks: list[str] = []
        found = not has_fields
        for literal, field in parts:
            chunks.append(literal)
            if field is not None:
                value = values.get(field)
                if not is_missing(value):
                    found = True
                    chunks.append(text_of(value))
        # A missing part leaves no dangling space ("Ann " for a lead without a last name);
        # a template whose every field is missing is missing itself.
        return "".join(chunks).strip() if found else None

    return render


def _compile_split(read: Source, sep: str, index: int) -> Source:
    # A blank separator splits on runs of whitespace, so "Ann  Lee" still has two parts.
    by = None if not sep.strip() else sep

    def part(values: Values) -> str | None:
        value = read(values)
        if is_missing(value):
            return None
        pieces = text_of(value).split(by)
        try:
            return pieces[index].strip()
        except IndexError:
            return None

    return part


def _compile_table(
    read: Source, table: Mapping[Any, Any], default: Any, has_default: bool
) -> Source:
    # Keys match case-insensitively as text, so YAML's true, "True" and a boolean lead
    # value all find the same row.
    rows = {text_of(key).strip().casefold(): value for key, value in table.items()}

    def translate(values: Values) -> Any:
        value = read(values)
        if is_missing(value):
            return None
        key = text_of(value).strip().casefold()
        if key in rows:
            return rows[key]
        # Without a default, a value the table does not list goes through unchanged.
        return default if has_default else value

    return translate


def _writer(path: tuple[str, ...]) -> Writer:
    leaf = path[-1]
    parents = path[:-1]
    if not parents:

        def write_flat(out: dict[str, Any], value: Any) -> None:
            out[leaf] = value

        return write_flat

    def write_nested(out: dict[str, Any], value: Any) -> None:
        node = out
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value

    return write_nested
