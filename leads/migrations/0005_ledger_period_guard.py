"""The database holds the period close on its own: a ledger row dated inside a closed
month cannot be inserted, and a row inside one cannot be changed or deleted, whether
the write comes from the ledger services, a raw ORM call or plain SQL."""

from __future__ import annotations

from typing import Any

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION leads_ledger_period_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND EXISTS (
        SELECT 1 FROM leads_closedperiod
        WHERE OLD.created_at >= starts_at AND OLD.created_at < ends_at
    ) THEN
        RAISE EXCEPTION 'ledger entry % is dated in a closed period', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND EXISTS (
        SELECT 1 FROM leads_closedperiod
        WHERE NEW.created_at >= starts_at AND NEW.created_at < ends_at
    ) THEN
        RAISE EXCEPTION 'a ledger entry may not be dated % (a closed period)', NEW.created_at
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER leads_ledger_period_guard
    BEFORE INSERT OR UPDATE OR DELETE ON leads_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION leads_ledger_period_guard();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS leads_ledger_period_guard ON leads_ledgerentry;
DROP FUNCTION IF EXISTS leads_ledger_period_guard();
"""

# SQLite stores datetimes as ISO text in UTC, so the comparisons are text ones.
_CLOSED = "EXISTS (SELECT 1 FROM leads_closedperiod WHERE {row}.created_at >= starts_at AND {row}.created_at < ends_at)"
SQLITE_FORWARD = [
    f"""CREATE TRIGGER leads_ledger_period_insert BEFORE INSERT ON leads_ledgerentry
    WHEN {_CLOSED.format(row="NEW")}
    BEGIN SELECT RAISE(ABORT, 'a ledger entry may not be dated in a closed period'); END;""",
    f"""CREATE TRIGGER leads_ledger_period_update BEFORE UPDATE ON leads_ledgerentry
    WHEN {_CLOSED.format(row="OLD")} OR {_CLOSED.format(row="NEW")}
    BEGIN SELECT RAISE(ABORT, 'ledger entries of a closed period cannot change'); END;""",
    f"""CREATE TRIGGER leads_ledger_period_delete BEFORE DELETE ON leads_ledgerentry
    WHEN {_CLOSED.format(row="OLD")}
    BEGIN SELECT RAISE(ABORT, 'ledger entries of a closed period cannot be deleted'); END;""",
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS leads_ledger_period_{op}" for op in ("insert", "update", "delete")
]


def forward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement, None)


def backward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement, None)


class Migration(migrations.Migration):
    dependencies = [("leads", "0004_closed_periods_and_statement_indexes")]

    operations = [migrations.RunPython(forward, backward)]
