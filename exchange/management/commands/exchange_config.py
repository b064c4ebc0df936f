"""``manage.py exchange_config export [FILE]`` and ``import FILE [--dry-run]`` (SPEC §9)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from exchange.configfile import ConfigFileError, export_config, import_config


class Command(BaseCommand):
    help = (
        "Export the whole configuration as YAML (to FILE, or stdout), or import such a file: "
        "matched by slug, in one transaction, printing what changes. --dry-run shows the "
        "changes and saves nothing."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["export", "import"])
        parser.add_argument("file", nargs="?", help="YAML file; '-' is stdin/stdout")
        parser.add_argument(
            "--dry-run", action="store_true", help="import: report the changes, save nothing"
        )
        parser.add_argument(
            "--user",
            default="",
            help="import: the username recorded in the change history as who imported "
            '(always with the reason "config import")',
        )

    def handle(self, *args: Any, action: str, file: str | None, dry_run: bool, **opts: Any) -> None:
        self.user = None
        if opts.get("user"):
            model = get_user_model()
            self.user = model.objects.filter(**{model.USERNAME_FIELD: opts["user"]}).first()
            if self.user is None:
                raise CommandError(f"--user {opts['user']}: no such user")
        if action == "export":
            if dry_run:
                raise CommandError("--dry-run only applies to import")
            self._export(file)
        else:
            if not file:
                raise CommandError("import needs the FILE to read")
            self._import(file, dry_run)

    def _export(self, file: str | None) -> None:
        result = export_config()
        if file and file != "-":
            Path(file).write_text(result.text, encoding="utf-8")
            self.stderr.write(f"wrote {file}")
        else:
            self.stdout.write(result.text, ending="")
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")

    def _import(self, file: str, dry_run: bool) -> None:
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from exc
        try:
            result = import_config(text, dry_run=dry_run, user=self.user)
        except ConfigFileError as exc:
            problems = "\n".join(f"  {p}" for p in exc.problems)
            raise CommandError(f"{file} was refused, nothing changed:\n{problems}") from exc
        self.stdout.write(result.report(), ending="")
