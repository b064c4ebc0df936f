"""Config as code (SPEC §9): the whole exchange configuration as one YAML file.

``export_config()`` writes it; ``import_config(text)`` applies one in a single
transaction, matched by slug, refusing the whole file on any problem and reporting
what it changed. ``manage.py exchange_config`` is the command line for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from plumbing.history import attributed

from .apply import Applier
from .changes import CHANGED, CREATED, DELETED, UNCHANGED, Change, summary
from .dump import dump_yaml, export_document
from .parse import parse_document
from .reader import ConfigFileError, load_yaml

__all__ = ["ConfigFileError", "ExportResult", "ImportResult", "export_config", "import_config"]


@dataclass(slots=True)
class ExportResult:
    text: str
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ImportResult:
    """What an import did (or, in a dry run, would do)."""

    changes: list[Change]
    warnings: list[str]
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        counts = summary(self.changes)
        return any(counts[s] for s in (CREATED, CHANGED, DELETED))

    def report(self) -> str:
        """The readable diff: each object with its status, then ``field: old → new``."""
        lines = [line for change in self.changes for line in change.lines()]
        counts = summary(self.changes)
        if self.changed:
            totals = ", ".join(
                f"{counts[s]} {s}" for s in (CREATED, CHANGED, DELETED, UNCHANGED) if counts[s]
            )
            ending = " (dry run: nothing was saved)" if self.dry_run else ""
            lines.append(f"Summary: {totals}{ending}.")
        else:
            lines.append(f"No changes ({counts[UNCHANGED]} objects unchanged).")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"


def export_config() -> ExportResult:
    """The current configuration as SPEC §9 YAML, with warnings about secrets not in it."""
    document, warnings = export_document()
    return ExportResult(dump_yaml(document), warnings)


IMPORT_REASON = "config import"


def import_config(text: str, *, dry_run: bool = False, user: Any = None) -> ImportResult:
    """Apply a config file; raises ``ConfigFileError`` (nothing saved) when it is refused.

    With ``dry_run`` every change is made and reported, then rolled back. Every change
    lands in the objects' history with the reason "config import" and ``user`` (the
    person importing, when known) as who made it.
    """
    plan = parse_document(load_yaml(text))
    applier = Applier(user=user)
    with transaction.atomic(), attributed(user, IMPORT_REASON):
        changes = applier.apply(plan)
        if applier.problems:
            raise ConfigFileError(applier.problems)
        if dry_run:
            transaction.set_rollback(True)
    return ImportResult(changes, plan.warnings + applier.warnings, dry_run)
