"""Ledger rows say whether a sale went to a fallback campaign (the remnant market).

On SQLite, adding a NOT NULL column rebuilds the table, which drops its triggers: the
period-close guard of 0005 is put back after it (PostgreSQL keeps its trigger)."""

from __future__ import annotations

import importlib
from typing import Any

from django.db import migrations, models

guard = importlib.import_module("leads.migrations.0005_ledger_period_guard")


def restore_sqlite_guard(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        for statement in [*guard.SQLITE_BACKWARD, *guard.SQLITE_FORWARD]:
            schema_editor.execute(statement, None)


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0011_dispositions_dispo"),
    ]

    operations = [
        migrations.AddField(
            model_name="ledgerentry",
            name="remnant",
            field=models.BooleanField(
                default=False,
                help_text="A sale to a fallback campaign (the remnant market), or its return.",
            ),
        ),
        migrations.RunPython(restore_sqlite_guard, restore_sqlite_guard),
    ]
