"""The test suite's settings: ``exchange.settings`` as users run it, read with
``SWITCHYARD_TESTING`` and ``DEBUG`` set (fast password hashing; pings' call logs written at once
rather than batched, so a test reads them as soon as its request returns)."""

from __future__ import annotations

import os

os.environ.setdefault("SWITCHYARD_TESTING", "1")
# Development defaults (a local PII key, a dev SECRET_KEY, optional 2FA); the tests that
# need production behaviour set it themselves.
os.environ.setdefault("DEBUG", "true")

from exchange.settings import *  # noqa: E402, F403
