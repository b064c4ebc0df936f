"""Walking a parsed config file with a path, collecting every problem on the way.

Values are checked by the model fields they end up in (``Field.clean``), so the file
accepts exactly what the admin accepts and says it with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, cast

import yaml
from django.core.exceptions import ValidationError
from django.db import models

_RULE_PREFIX = re.compile(r"^rule (\d+(?:\.\d+)*)(?: \([^)]*\))?: (.*)$", re.DOTALL)
_SECTION_PREFIX = re.compile(r"^(accepted|price|reference|reason): (.*)$", re.DOTALL)


_BOOL_TAG = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """YAML as version 1.2 reads booleans: only true and false. YAML 1.1 would turn a
    buyer's `equals: [yes]` or a state code `NO` into booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    """The document in ``text``; raises ``ConfigFileError`` when it is not YAML."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigFileError([f"the file is not valid YAML: {exc}"]) from exc


class ConfigFileError(Exception):
    """A config file that cannot be applied; ``problems`` lists each one with its path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def at(path: str, key: str | int) -> str:
    """``at("buyers", 0)`` is ``buyers[0]``; ``at("buyers[0]", "slug")`` is ``buyers[0].slug``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def kind_of(node: Any) -> str:
    if node is None:
        return "nothing"
    return {dict: "a table", list: "a list", str: "text", bool: "true/false"}.get(
        type(node), type(node).__name__
    )


class Reader:
    """Reads tables, lists and model values from the document, noting problems."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}" if path else message)

    def table(
        self,
        node: Any,
        path: str,
        *,
        keys: Collection[str],
        required: Collection[str] = (),
    ) -> dict[str, Any] | None:
        """``node`` if it is a table with only ``keys`` and every ``required`` one."""
        if not isinstance(node, dict):
            self.fail(path, f"expected a table {{key: value}}, got {kind_of(node)}")
            return None
        for key in node:
            if key not in keys:
                self.fail(at(path, str(key)), f"unknown key (expected: {', '.join(keys)})")
        for key in required:
            if node.get(key) in (None, ""):
                self.fail(path, f"{key!r} is required")
        return node

    def items(self, node: Any, path: str) -> list[Any]:
        """``node`` as a list (absent: empty)."""
        if node is None:
            return []
        if not isinstance(node, list):
            self.fail(path, f"expected a list, got {kind_of(node)}")
            return []
        return node

    def value(
        self, model: type[models.Model], name: str, node: Mapping[str, Any], key: str, path: str
    ) -> Any:
        """``node[key]`` cleaned by ``model.name``; the field's default when absent."""
        field = cast(models.Field, model._meta.get_field(name))
        raw = node.get(key)
        if raw is None:
            return field.get_default()
        if isinstance(field, models.CharField) and not isinstance(raw, str):
            # YAML reads `zip: 01234` or `name: yes` as numbers and booleans: say so.
            if isinstance(raw, dict | list | bool):
                self.fail(at(path, key), f"expected text, got {kind_of(raw)}")
                return field.get_default()
            raw = str(raw)
        try:
            return field.clean(raw, None)
        except ValidationError as exc:
            self.fail(at(path, key), " ".join(exc.messages))
            return field.get_default()

    def model_rules(self, instance: models.Model, path: str, keys: Mapping[str, str]) -> None:
        """Run the model's own cross-field checks (``clean``); ``keys`` maps its field
        names to the file's keys so each problem points at the right place."""
        try:
            instance.clean()
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                where = at(path, keys[name]) if name in keys else path
                self.fail(where, " ".join(messages))

    def rule_problems(self, path: str, problems: list[str], rules: Any = None) -> None:
        """Problems from the rule validators, which number rules from 1
        (``rule 2.1 (state): ...``), placed at the file's path of that rule."""
        for problem in problems:
            found = _RULE_PREFIX.match(problem)
            if found:
                where = _rule_path(path, found.group(1), rules)
                self.fail(where, found.group(2))
                continue
            section = _SECTION_PREFIX.match(problem)
            if section:
                self.fail(at(path, section.group(1)), section.group(2))
            else:
                self.fail(path, problem)


def _rule_path(path: str, numbers: str, rules: Any) -> str:
    """``filters`` + ``2.1`` becomes ``filters[1].any[0]`` by walking the rules."""
    node: Any = {"all": rules} if isinstance(rules, list) else rules
    where = path
    for position, number in enumerate(numbers.split(".")):
        index = int(number) - 1
        if isinstance(node, dict) and len(node) == 1 and ("any" in node or "all" in node):
            group = "any" if "any" in node else "all"
            where = where if position == 0 else at(where, group)
            node = node[group]
        if not isinstance(node, list) or not 0 <= index < len(node):
            return f"{where} (rule {numbers})"
        where, node = at(where, index), node[index]
    return where
