"""The embedded SQLite backend (``exchange.sqlite``): write transactions queue on a lock
file and a waiter goes on the moment the holder commits, instead of polling."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db.utils import ConnectionHandler


@pytest.fixture
def database(tmp_path: Path, django_db_blocker: Any) -> Any:
    """Connections to a fresh database file of its own (not the test database)."""
    handler = ConnectionHandler(
        {"default": {"ENGINE": "exchange.sqlite", "NAME": str(tmp_path / "x.sqlite3"),
                     "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20}}}
    )  # fmt: skip

    def connect() -> Any:
        return handler.create_connection("default")

    with django_db_blocker.unblock():
        setup = connect()
        with setup.cursor() as cursor:
            cursor.execute("CREATE TABLE t (n INTEGER)")
        setup.close()
        yield connect


def begin(connection: Any) -> None:
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)


def end(connection: Any, commit: bool = True) -> None:
    connection.commit() if commit else connection.rollback()
    connection.set_autocommit(True)


def test_a_waiting_writer_goes_on_as_soon_as_the_holder_commits(database: Any) -> None:
    holder, waiter = database(), database()
    waiter.inc_thread_sharing()  # used from the thread below
    begin(holder)
    with holder.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (1)")
    got_in: list[float] = []

    def write() -> None:
        begin(waiter)  # waits here while the holder's transaction is open
        got_in.append(time.monotonic())
        with waiter.cursor() as cursor:
            cursor.execute("INSERT INTO t VALUES (2)")
        end(waiter)

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(0.24)
    assert not got_in  # still waiting
    end(holder)
    committed = time.monotonic()
    thread.join(5)

    # SQLite's own polling would have slept until about 330 ms (1, 2, 5 ... 100 ms naps).
    assert got_in and got_in[0] - committed < 0.04
    with holder.cursor() as cursor:
        cursor.execute("SELECT n FROM t ORDER BY n")
        assert cursor.fetchall() == [(1,), (2,)]
    holder.close()
    waiter.dec_thread_sharing()
    waiter.close()


@pytest.mark.parametrize("finish", ["rollback", "close"])
def test_the_lock_is_released_by_a_rollback_or_a_closed_connection(
    database: Any, finish: str
) -> None:
    first, second = database(), database()
    begin(first)
    with first.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (1)")
    if finish == "rollback":
        end(first, commit=False)
    else:
        first.close()

    started = time.monotonic()
    begin(second)
    with second.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM t")
        assert cursor.fetchone() == (0,)
    end(second)
    assert time.monotonic() - started < 0.5
    second.close()


def test_a_write_outside_a_transaction_queues_too(database: Any) -> None:
    holder, writer = database(), database()
    writer.inc_thread_sharing()
    begin(holder)
    with holder.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (1)")
    got_in: list[float] = []

    def write() -> None:
        with writer.cursor() as cursor:  # autocommit: the statement is its own transaction
            cursor.execute("UPDATE t SET n = n + 10")
        got_in.append(time.monotonic())

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(0.24)
    assert not got_in
    end(holder)
    committed = time.monotonic()
    thread.join(5)

    assert got_in and got_in[0] - committed < 0.04
    with holder.cursor() as cursor:
        cursor.execute("SELECT n FROM t")
        assert cursor.fetchall() == [(11,)]
    holder.close()
    writer.dec_thread_sharing()
    writer.close()
