"""The embedded broker (``filesystem://``): a consumer never takes a half-written message."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, pools

import exchange.celery  # noqa: F401  (it makes filesystem:// the atomic transport)
from plumbing import embedded_broker
from plumbing.embedded_broker import Transport


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    return tmp_path / "in"


def connect(folder: Path) -> Connection:
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    # kombu writes its exchange table to ./control unless told where (as settings.py does).
    options["control_folder"] = str(folder.parent / "control")
    return Connection("filesystem://", transport_options={**options, "store_processed": False})


def test_filesystem_urls_use_the_atomic_transport(folder: Path) -> None:
    with connect(folder) as conn:
        assert isinstance(conn.transport, Transport)


def test_a_message_is_invisible_to_consumers_until_it_is_whole(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = {"n": 1, "pad": "x" * 20_000}
    during_write: list[Any] = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        if not str(src).endswith(".partial"):  # kombu's own files (its exchange table)
            return real_replace(src, dst)
        # Written, not yet in place: what would a consumer polling right now get?
        with connect(folder) as conn:
            queue = conn.SimpleQueue("race")
            try:
                during_write.append(queue.get(block=False).payload)
            except queue.Empty:
                during_write.append("nothing")
        real_replace(src, dst)

    monkeypatch.setattr(embedded_broker.os, "replace", replace)
    with connect(folder) as conn:
        conn.SimpleQueue("race").put(payload)
        message = conn.SimpleQueue("race").get(timeout=1)
        message.ack()

    assert during_write == ["nothing"]
    assert message.payload == payload
    assert not [f for f in os.listdir(folder) if f.endswith((".msg", ".partial"))]


def test_queueing_a_message_logs_no_warning_about_a_missing_hostname(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every command that queued a task (erase_person, say) printed kombu's "No hostname
    # was supplied. Reverting to default 'localhost'": a folder broker has no host.
    with caplog.at_level("WARNING"), connect(folder) as conn:
        # As Celery sends a task: through kombu's producer pool (its connections are clones).
        with pools.producers[conn].acquire(block=True) as producer:
            producer.publish({"n": 1}, routing_key="quiet")
        assert conn.SimpleQueue("quiet").get(timeout=1).payload == {"n": 1}

    assert [r.getMessage() for r in caplog.records] == []
