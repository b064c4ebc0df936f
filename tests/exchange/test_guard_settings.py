"""The runtime guards' settings: a malformed value stops the start, naming it."""

from __future__ import annotations

import pytest

from tests.exchange.test_settings import start


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OUTBOUND_ALLOWED_NETWORKS", "127.0.0.0/8,loopback"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("MAX_BID", "lots"),
        ("MAX_BID", "-5"),
    ],
)
def test_a_bad_guard_setting_stops_the_start_naming_it(name: str, value: str) -> None:
    done = start(**{name: value})

    assert done.returncode != 0
    assert f"{name} is malformed" in done.stderr


def test_the_guard_settings_take_cidr_lists_and_an_amount() -> None:
    done = start(
        OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8, 10.20.0.0/16,::1/128",
        TRUSTED_PROXIES="10.0.0.0/8",
        MAX_BID="2500.00",
    )

    assert done.returncode == 0, done.stderr
