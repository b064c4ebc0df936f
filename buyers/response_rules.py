"""Response rules (SPEC §4): how to read a buyer's answer, whatever its format.

Rules are stored as JSON in the config-file shape (SPEC §9)::

    {"accepted": {"path": "result", "equals": ["accepted"]},
     "price": {"path": "bid"}, "reference": {"path": "bid_id"}, "reason": {"regex": "..."}}

``compile_response_rules`` turns them, once, into a function of (HTTP status, content
type, body) that classifies every answer into an outcome class (``buyers.choices.Outcome``).
Timeouts, transport errors and open circuits never reach it: the transport builds those
answers with the ``Answer`` factories.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from .choices import Outcome
from .formats import body_text, decode_body
from .transforms import text_of

_RULE_KEYS = ("accepted", "price", "reference", "reason")
_ACCEPTED_KINDS = ("status", "path", "contains", "regex")
_EXTRACT_KINDS = ("path", "regex")
# Without rules, these paths are read when the answer happens to carry them.
_DEFAULT_PATHS = {"price": "price", "reference": "reference", "reason": "reason"}
_SUCCESS = ((200, 299),)
_RETRYABLE_STATUSES = frozenset({408, 429})
_STATUS_RANGE = re.compile(r"\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?", re.ASCII)
_INDEX = re.compile(r"-?[0-9]+")
_AMOUNT = re.compile(r"\$?\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
# The widths of the Bid/TransactionLog columns these values are stored in.
_MAX_REFERENCE = 200
_MAX_REASON = 200


@dataclass(frozen=True, slots=True)
class Answer:
    """What one outbound call came to: its outcome class and what the buyer said."""

    outcome: str
    price: Decimal | None = None
    reference: str = ""
    reason: str = ""
    retryable: bool = False
    status: int | None = None

    @classmethod
    def timeout(cls) -> Answer:
        """The buyer did not answer within the endpoint's timeout."""
        return cls(Outcome.TIMEOUT, reason="timed out", retryable=True)

    @classmethod
    def transport_error(cls, reason: str) -> Answer:
        """No HTTP answer at all: DNS, connection refused, TLS, reset..."""
        return cls(Outcome.TRANSPORT_ERROR, reason=reason, retryable=True)

    @classmethod
    def circuit_open(cls) -> Answer:
        """The endpoint's circuit is open: the call was not made."""
        return cls(Outcome.CIRCUIT_OPEN, reason="circuit open", retryable=True)


ReadAnswer = Callable[[int, str, bytes], Answer]


class ResponseRulesError(ValueError):
    """Response rules that do not validate; the message lists every problem."""


def validate_response_rules(rules: Any) -> list[str]:
    """Return readable problems with response rules (empty when they are valid)."""
    if rules is None:
        return []
    if not isinstance(rules, Mapping):
        return [f"response rules must be a table, got {type(rules).__name__}"]
    errors = [f"unexpected key {key!r}" for key in rules if key not in _RULE_KEYS]
    if "accepted" in rules:
        errors += [f"accepted: {p}" for p in _accepted_problems(rules["accepted"])]
    for key in ("price", "reference", "reason"):
        if key in rules:
            errors += [f"{key}: {p}" for p in _extract_problems(rules[key])]
    return errors


def compile_response_rules(rules: Any) -> ReadAnswer:
    """Compile response rules into ``read(status, content_type, body) -> Answer``.

    Order: 408, 429 and 5xx are retryable ``http_error``; any other 4xx is a permanent
    ``http_error``; a body a path rule cannot read, or a price that is not an amount, is
    ``bad_response``; then the accepted rule decides ``accepted`` or ``rejected``. Without
    an accepted rule a 2xx status is acceptance. Raises ``ResponseRulesError``.
    """
    errors = validate_response_rules(rules)
    if errors:
        raise ResponseRulesError("; ".join(errors))
    rules = rules or {}
    accepted_rule = rules.get("accepted")
    accepted = _compile_accepted(accepted_rule)
    price, reference, reason = (_compile_extract(rules, key) for key in _DEFAULT_PATHS)
    # A rejection decided by the status alone is explained by the status.
    by_status = accepted_rule is None or "status" in accepted_rule

    def read(status: int, content_type: str, body: bytes) -> Answer:
        reply = _Reply(content_type, body)
        if status >= 400:
            return _http_error(status, _quietly(reason, reply))
        try:
            ok = accepted(status, reply)
            amount = _amount(price(reply))
            ref = _reference(reference(reply))
            why = _reason(reason(reply))
        except _BadAnswer as exc:
            return Answer(Outcome.BAD_RESPONSE, reason=_clip(str(exc)), status=status)
        if ok:
            return Answer(Outcome.ACCEPTED, amount, ref, why, status=status)
        if not why and by_status:
            why = f"HTTP {status}"
        return Answer(Outcome.REJECTED, reference=ref, reason=why, status=status)

    return read


def _http_error(status: int, said: str) -> Answer:
    # 408 and 429 are the buyer asking for time; 5xx is the buyer's own failure.
    retryable = status in _RETRYABLE_STATUSES or status >= 500
    reason = _clip(f"HTTP {status}: {said}" if said else f"HTTP {status}")
    return Answer(Outcome.HTTP_ERROR, reason=reason, retryable=retryable, status=status)


# --- validation ---------------------------------------------------------------------------


def _accepted_problems(rule: Any) -> list[str]:
    if not isinstance(rule, Mapping):
        return ["expected {status}, {path, equals}, {contains} or {regex}"]
    errors = [f"unexpected key {key!r}" for key in rule if key not in (*_ACCEPTED_KINDS, "equals")]
    kinds = [kind for kind in _ACCEPTED_KINDS if kind in rule]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        return [*errors, f"give exactly one of status, path, contains, regex (found {found})"]
    kind, value = kinds[0], rule[kinds[0]]
    if "equals" in rule and kind != "path":
        errors.append("'equals' only goes with 'path'")
    if kind == "status":
        try:
            _status_ranges(value)
        except ValueError as exc:
            errors.append(str(exc))
    elif kind == "path":
        errors += _path_problems(value)
        wanted = rule.get("equals")
        values = wanted if isinstance(wanted, list) else [wanted]
        if wanted is None or not values or not all(_is_scalar(v) for v in values):
            errors.append("'path' needs 'equals': the values that mean accepted, e.g. [ok]")
    elif kind == "contains":
        if not isinstance(value, str) or not value:
            errors.append("'contains' needs a non-empty text")
    else:
        errors += _regex_problems(value)
    return errors


def _extract_problems(rule: Any) -> list[str]:
    if not isinstance(rule, Mapping):
        return ["expected {path} or {regex}"]
    errors = [f"unexpected key {key!r}" for key in rule if key not in _EXTRACT_KINDS]
    kinds = [kind for kind in _EXTRACT_KINDS if kind in rule]
    if len(kinds) != 1:
        return [*errors, "give exactly one of path, regex"]
    if kinds[0] == "path":
        return errors + _path_problems(rule["path"])
    return errors + _regex_problems(rule["regex"])


def _path_problems(path: Any) -> list[str]:
    if not isinstance(path, str) or not _Path(path).keys:
        return [f"a path looks like a.b.0.c (JSON) or a/b/c (XML), got {path!r}"]
    return []


def _regex_problems(pattern: Any) -> list[str]:
    if not isinstance(pattern, str) or not pattern:
        return ["'regex' needs a pattern"]
    try:
        re.compile(pattern)
    except re.error as exc:
        return [f"invalid regex {pattern!r}: {exc}"]
    return []


def _status_ranges(spec: Any) -> tuple[tuple[int, int], ...]:
    """``"200-299"``, ``"200"``, ``200`` or a list of them, as (low, high) pairs."""
    ranges = []
    for item in spec if isinstance(spec, list) else [spec]:
        match = _STATUS_RANGE.fullmatch(item) if isinstance(item, str) else None
        if isinstance(item, int) and not isinstance(item, bool):
            low = high = item
        elif match:
            low, high = int(match[1]), int(match[2] or match[1])
        else:
            raise ValueError(f"status must look like 200 or 200-299, got {item!r}")
        if not 100 <= low <= high <= 599:
            raise ValueError(f"status range {item!r} is not within 100-599, low to high")
        ranges.append((low, high))
    if not ranges:
        raise ValueError("status needs at least one code or range")
    return tuple(ranges)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | Decimal)


# --- compilation --------------------------------------------------------------------------


class _BadAnswer(Exception):
    """The answer cannot be read as the rules say: a bad_response."""


class _Reply:
    """One answer's body, decoded at most once and only if a rule needs it."""

    __slots__ = ("body", "content_type", "_document", "_text")

    def __init__(self, content_type: str, body: bytes) -> None:
        self.content_type = content_type
        self.body = body
        self._document: tuple[str, Any] | None = None
        self._text: str | None = None

    def text(self) -> str:
        if self._text is None:
            self._text = body_text(self.body, self.content_type)
        return self._text

    def document(self) -> tuple[str, Any]:
        """("json"|"xml"|"text", document), or ("error", why it does not parse)."""
        if self._document is None:
            try:
                self._document = decode_body(self.body, self.content_type)
            except ValueError as exc:
                self._document = ("error", str(exc))
        return self._document


class _Path:
    """A path split once: JSON keys/indexes (``a.b.0.c``), XML steps (``a/b/@attr``)."""

    __slots__ = ("attr", "keys", "raw", "steps")

    def __init__(self, raw: str) -> None:
        parts = [p.strip() for p in raw.split("/" if "/" in raw else ".") if p.strip()]
        self.raw = raw
        self.keys = tuple((p, int(p) if _INDEX.fullmatch(p) else None) for p in parts)
        self.attr = parts[-1][1:] if parts and parts[-1].startswith("@") else None
        self.steps = tuple(parts[:-1] if self.attr is not None else parts)

    def in_json(self, node: Any) -> Any:
        for key, index in self.keys:
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and index is not None and -len(node) <= index < len(node):
                node = node[index]
            else:
                return None
        return node

    def in_xml(self, root: Any) -> Any:
        steps = self.steps
        # "response/status" reads <response><status>: the root may be named or not.
        if steps and steps[0] == root.tag:
            steps = steps[1:]
        node = root
        for step in steps:
            node = next((child for child in node if child.tag == step), None)
            if node is None:
                return None
        return node.get(self.attr) if self.attr is not None else node.text


def _compile_accepted(rule: Mapping[str, Any] | None) -> Callable[[int, _Reply], bool]:
    if rule is None or "status" in rule:
        ranges = _SUCCESS if rule is None else _status_ranges(rule["status"])
        return lambda status, reply: any(low <= status <= high for low, high in ranges)
    if "path" in rule:
        read = _path_reader(rule["path"], required=True)
        equals = rule["equals"] if isinstance(rule["equals"], list) else [rule["equals"]]
        wanted = frozenset(_fold(v) for v in equals)

        def matches(status: int, reply: _Reply) -> bool:
            value = read(reply)
            return value is not None and _fold(value) in wanted

        return matches
    if "contains" in rule:
        needle = rule["contains"].casefold()
        return lambda status, reply: needle in reply.text().casefold()
    pattern = re.compile(rule["regex"])
    return lambda status, reply: pattern.search(reply.text()) is not None


def _compile_extract(rules: Mapping[str, Any], key: str) -> Callable[[_Reply], Any]:
    rule = rules.get(key)
    if rule is None:
        return _path_reader(_DEFAULT_PATHS[key], required=False)
    if "path" in rule:
        return _path_reader(rule["path"], required=True)
    pattern = re.compile(rule["regex"])
    group = 1 if pattern.groups else 0

    def search(reply: _Reply) -> str | None:
        match = pattern.search(reply.text())
        return match[group] if match else None

    return search


def _path_reader(raw: str, *, required: bool) -> Callable[[_Reply], Any]:
    path = _Path(raw)

    def read(reply: _Reply) -> Any:
        kind, document = reply.document()
        if kind == "json":
            return path.in_json(document)
        if kind == "xml":
            return path.in_xml(document)
        if not required:
            return None
        if kind == "error":
            raise _BadAnswer(document)
        raise _BadAnswer(f"cannot read {raw!r}: the answer is neither JSON nor XML")

    return read


# --- reading values -----------------------------------------------------------------------


def _amount(raw: Any) -> Decimal | None:
    """A price as a non-negative Decimal; None when absent; _BadAnswer when not an amount."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    amount: Decimal | None = None
    if isinstance(raw, float):
        # Through repr so that 12.3 means 12.3, not its binary approximation.
        amount = Decimal(repr(raw)) if math.isfinite(raw) else None
    elif isinstance(raw, int | Decimal) and not isinstance(raw, bool):
        amount = Decimal(raw)
    elif isinstance(raw, str) and (match := _AMOUNT.fullmatch(raw.strip())):
        amount = Decimal(match[1])
    if amount is None or not amount.is_finite() or amount < 0:
        raise _BadAnswer(f"price {_clip(_text(raw), 40)!r} is not an amount")
    return amount


def _reference(raw: Any) -> str:
    text = _text(raw)
    if len(text) > _MAX_REFERENCE:
        raise _BadAnswer(f"reference is longer than {_MAX_REFERENCE} characters")
    return text


def _reason(raw: Any) -> str:
    # Buyers often answer a list of errors: ["zip not served", "duplicate"].
    if isinstance(raw, list):
        return _clip("; ".join(t for t in (_text(item) for item in raw) if t))
    return _clip(_text(raw))


def _quietly(read: Callable[[_Reply], Any], reply: _Reply) -> str:
    try:
        return _reason(read(reply))
    except _BadAnswer:
        return ""


def _text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, dict | list):
        return orjson.dumps(raw).decode()
    return text_of(raw).strip()


def _fold(value: Any) -> str:
    return _text(value).casefold()


def _clip(text: str, limit: int = _MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
