"""The embedded SQLite backend (``plumbing.sqlite``): write transactions queue on a lock
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
        {"default": {"ENGINE": "plumbing.sqlite", "NAME": str(tmp_path / "x.sqlite3"),
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


def behind_an_open_write(database: Any, write: Any) -> tuple[float, list[tuple[int]]]:
    """Hold a write transaction open, run ``write(connection)`` on another thread and
    connection, commit 240 ms later. Returns how long after the commit ``write`` got
    in (the time it returns) and the rows then in the table."""
    holder, waiter = database(), database()
    waiter.inc_thread_sharing()  # used from the thread below
    begin(holder)
    with holder.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (1)")
    got_in: list[float] = []
    thread = threading.Thread(target=lambda: got_in.append(write(waiter)))
    thread.start()
    time.sleep(0.24)
    assert not got_in  # still waiting
    end(holder)
    committed = time.monotonic()
    thread.join(5)
    assert got_in
    with holder.cursor() as cursor:
        cursor.execute("SELECT n FROM t ORDER BY n")
        rows = cursor.fetchall()
    holder.close()
    waiter.dec_thread_sharing()
    waiter.close()
    return got_in[0] - committed, rows


def test_a_waiting_writer_goes_on_as_soon_as_the_holder_commits(database: Any) -> None:
    def write(waiter: Any) -> float:
        begin(waiter)  # waits here while the holder's transaction is open
        got_in = time.monotonic()
        with waiter.cursor() as cursor:
            cursor.execute("INSERT INTO t VALUES (2)")
        end(waiter)
        return got_in

    delay, rows = behind_an_open_write(database, write)

    # SQLite's own polling would have slept until about 330 ms (1, 2, 5 ... 100 ms naps).
    assert delay < 0.2  # SQLite polling alone would take about 330 ms
    assert rows == [(1,), (2,)]


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
    def write(writer: Any) -> float:
        with writer.cursor() as cursor:  # autocommit: the statement is its own transaction
            cursor.execute("UPDATE t SET n = n + 10")
        return time.monotonic()

    delay, rows = behind_an_open_write(database, write)

    assert delay < 0.2  # SQLite polling alone would take about 330 ms
    assert rows == [(11,)]
