from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leads.models_compliance import SuppressionSource
from leads.suppression import export_csv, import_csv


class Command(BaseCommand):
    help = (
        "The suppression list: 'import FILE.csv' (columns phone,email,reason; all rows or "
        "none) or 'export [FILE.csv]' (hashes only)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["import", "export"])
        parser.add_argument("file", nargs="?", default="", help="the CSV file (export: stdout)")
        parser.add_argument("--by", default="", help="who asked (recorded on each entry)")

    def handle(self, *args: Any, action: str, file: str, by: str, **options: Any) -> None:
        if action == "export":
            if file:
                with Path(file).open("w", newline="", encoding="utf-8") as out:
                    count = export_csv(out)
                self.stderr.write(f"exported {count} suppression(s) to {file}")
            else:
                export_csv(self.stdout if self.stdout else sys.stdout)
            return
        if not file:
            raise CommandError("give the CSV file to import")
        try:
            with Path(file).open(newline="", encoding="utf-8-sig") as text:
                result = import_csv(
                    text,
                    source=SuppressionSource.COMMAND,
                    added_by=by or f"manage.py suppress import {Path(file).name}",
                )
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        if result.errors:
            raise CommandError("nothing imported:\n" + "\n".join(f"  {e}" for e in result.errors))
        self.stdout.write(f"suppressed {result.added} person(s)")
