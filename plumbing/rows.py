"""Inserting new rows in the fewest statements, for the ping's answer path.

``Model.save()`` and ``bulk_create()`` build their SQL anew on every call; for a row
written on every ping that costs more than the database does. ``insert_together``
builds each model's INSERT once per process and row count, converts values with the
fields' own ``pre_save``/``get_db_prep_save`` (what the ORM itself does, so auto_now,
JSON, decimals, UUIDs and encrypted fields come out the same), and writes:

- on PostgreSQL, every group in **one statement** (the earlier groups as
  data-modifying CTEs, so a lead and its bids cost a single round trip, atomic on
  its own; foreign keys are checked at the statement's end);
- elsewhere, one INSERT per group inside one transaction.

With ``durable=False`` (PostgreSQL, outside a transaction) the commit does not wait
for the write-ahead log to reach the disk (``synchronous_commit`` off for this
transaction only, sent in the same round trip). The rows are as atomic and as
visible as ever; only a crash of the database server itself in the next fraction of
a second could lose them. It saves the WAL flush, about a millisecond or more.

Rows are written as given: primary keys set by the caller are kept, database-assigned
ones are not read back (use ``bulk_create`` where the ids are needed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

# Sent after BEGIN: this transaction's commit does not wait for the WAL flush.
ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF; "


@cache
def _fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    return tuple(
        f
        for f in model._meta.concrete_fields
        # Not an auto id the database assigns.
        if not (f.primary_key and getattr(f, "db_returning", False))
    )


@cache
def _insert_sql(model: type[models.Model], rows: int) -> str:
    quote = connection.ops.quote_name
    fields = _fields(model)
    columns = ", ".join(quote(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * rows)}"


def _params(objs: Sequence[models.Model], db: BaseDatabaseWrapper) -> list:
    fields = _fields(type(objs[0]))
    return [f.get_db_prep_save(f.pre_save(obj, True), db) for obj in objs for f in fields]


def _one_statement(statements: list[tuple[str, list]]) -> tuple[str, list]:
    """PostgreSQL: the earlier INSERTs as data-modifying CTEs of the last one."""
    *first, (sql, params) = statements
    if not first:
        return sql, params
    ctes = ", ".join(f"w{i} AS ({cte_sql})" for i, (cte_sql, _) in enumerate(first))
    return f"WITH {ctes} {sql}", [p for _, cte_params in first for p in cte_params] + params


def _roll_back(cursor: Any) -> None:
    """End a transaction sent as raw SQL after a failure (the statements after a
    failing one are skipped), on a connection that may be gone: the first error is
    the one to tell."""
    with contextlib.suppress(Exception):
        cursor.execute("ROLLBACK")


def _raw(db: BaseDatabaseWrapper, sql: str, params: list | None = None) -> None:
    """Run SQL that begins or ends a transaction itself (psycopg2 sends a parameterised
    string as one simple query, so it may hold several statements); on failure, end
    that transaction."""
    with db.cursor() as cursor:
        try:
            cursor.execute(sql, params)
        except Exception:
            _roll_back(cursor)
            raise


def _execute_alone(db: BaseDatabaseWrapper, sql: str, params: list, durable: bool) -> None:
    """One round trip on PostgreSQL in autocommit: the statement is its own transaction.
    Not ``durable``, it is wrapped to commit asynchronously."""
    if durable:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
    else:
        _raw(db, f"BEGIN; {ASYNC_COMMIT}{sql}; COMMIT;", params)


def _statements(
    groups: tuple[Sequence[models.Model], ...], db: BaseDatabaseWrapper
) -> list[tuple[str, list]]:
    statements = [(_insert_sql(type(g[0]), len(g)), _params(g, db)) for g in groups]
    return [_one_statement(statements)] if db.vendor == "postgresql" else statements


def _written(groups: tuple[Sequence[models.Model], ...], db: BaseDatabaseWrapper) -> None:
    for group in groups:
        for obj in group:
            obj._state.adding = False
            obj._state.db = db.alias


def insert_together(*groups: Sequence[models.Model], durable: bool = True) -> None:
    """Insert every group's rows (each group one model), all or none."""
    groups = tuple(g for g in groups if g)
    if not groups:
        return
    db = connections[DEFAULT_DB_ALIAS]  # this thread's connection, looked up once
    statements = _statements(groups, db)
    if db.vendor == "postgresql" and not db.in_atomic_block:
        _execute_alone(db, *statements[0], durable)  # no BEGIN and COMMIT to send
    else:
        with transaction.atomic(using=db.alias), db.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
    _written(groups, db)


def insert_with_ids(*groups: Sequence[models.Model]) -> None:
    """``insert_together``, reading the last group's database-assigned primary keys back
    into its objects: on PostgreSQL in the same one statement (``RETURNING``, in the
    order of the rows, as ``bulk_create`` has it), elsewhere by ``bulk_create``."""
    *first, last = groups
    first = [g for g in first if g]
    if not last:
        insert_together(*first)
        return
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        with transaction.atomic(using=db.alias):
            insert_together(*first)
            type(last[0])._base_manager.using(db.alias).bulk_create(last)
        return
    model = type(last[0])
    sql, params = _one_statement([*_statements(tuple(first), db), *_statements((last,), db)])
    sql += f" RETURNING {connection.ops.quote_name(model._meta.pk.column)}"
    with db.cursor() as cursor:  # one statement: atomic on its own
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(last, ids, strict=True):
        obj.pk = pk
    _written((*first, last), db)


class PendingInsert:
    """Rows written ahead of the moment they are confirmed: ``commit()`` confirms them,
    ``discard()`` (or leaving the ``with`` block without a commit) takes them back.

    - PostgreSQL, outside a transaction: the rows are sent at once in a transaction left
      open; ``commit()`` is one short round trip and ``discard()`` a rollback.
    - Elsewhere (SQLite, whose single writer a transaction left open would block) and
      inside a transaction: the rows are written at once; ``commit()`` has nothing left
      to do and ``discard()`` deletes them again. The groups after the first must
      each have a foreign key to the first group's model, by which they are deleted.
    """

    def __init__(self, *groups: Sequence[models.Model], durable: bool = True) -> None:
        self.groups = tuple(g for g in groups if g)
        self.db = connections[DEFAULT_DB_ALIAS]
        self.open = False  # a PostgreSQL transaction holds the rows
        self.pending = bool(self.groups)  # neither committed nor discarded yet
        if not self.groups:
            return
        if self.db.vendor == "postgresql" and not self.db.in_atomic_block:
            sql, params = _statements(self.groups, self.db)[0]
            _raw(self.db, f"BEGIN; {'' if durable else ASYNC_COMMIT}{sql};", params)
            self.open = True
        else:
            insert_together(*self.groups, durable=durable)

    def _settle(self) -> tuple[bool, bool]:
        """(whether the rows were still pending, whether a transaction holds them); both
        false from now on."""
        state = (self.pending, self.open)
        self.pending = self.open = False
        return state

    def commit(self) -> None:
        pending, in_transaction = self._settle()
        if in_transaction:
            _raw(self.db, "COMMIT")
        if pending:
            _written(self.groups, self.db)

    def discard(self) -> None:
        pending, in_transaction = self._settle()
        if in_transaction:
            with self.db.cursor() as cursor:
                _roll_back(cursor)
        elif pending:
            self._delete()

    def _delete(self) -> None:
        """Take back rows written and committed ahead: the later groups by their foreign
        key to the first, then the first."""
        owners, *others = self.groups
        owner_model = type(owners[0])
        keys = [obj.pk for obj in owners]
        with transaction.atomic(using=self.db.alias):
            for group in reversed(others):
                model = type(group[0])
                (link,) = (f for f in model._meta.concrete_fields if f.related_model is owner_model)
                model._base_manager.using(self.db.alias).filter(
                    **{f"{link.name}__in": keys}
                ).delete()
            owner_model._base_manager.using(self.db.alias).filter(pk__in=keys).delete()
        for group in self.groups:
            for obj in group:
                obj._state.adding = True

    def __enter__(self) -> PendingInsert:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
