"""Settings read from the environment: a bad value stops the start with its name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def start(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "exchange.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CUT_OFF_GRACE_MS", "-5"),
        ("CALL_LOG_FLUSH_MS", "-1"),
        ("CUT_OFF_GRACE_MS", "soon"),
        ("SETTLE_EARLY_MS", "-1"),
    ],
)
def test_a_bad_timing_setting_stops_the_start_naming_it(name: str, value: str) -> None:
    done = start(**{name: value})

    assert done.returncode != 0
    assert f"{name} is malformed" in done.stderr


def test_the_timing_settings_take_plain_numbers() -> None:
    assert (
        start(CUT_OFF_GRACE_MS="0", PING_DURABLE_COMMIT="true", SETTLE_EARLY_MS="2.5").returncode
        == 0
    )
