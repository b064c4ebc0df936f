"""The test suite's settings: ``exchange.settings`` as users run it, read with
``SWITCHYARD_TESTING`` set (fast password hashing; pings' call logs written at once
rather than batched, and no background refresher, so a test reads what its request
wrote as soon as the request returns).

``SWITCHYARD_PRODUCTION_LIKE=1`` (a pass of ``.ci/run``) keeps production's defaults
instead: the background refresher on and call logs batched every 50 ms. The suite then
runs every database test on committed data (the refresher and the recorder read and
write on their own connections) and waits for the recorder after each API request
(``tests/conftest.py``)."""

from __future__ import annotations

import os

os.environ.setdefault("SWITCHYARD_TESTING", "1")
PRODUCTION_LIKE = os.environ.get("SWITCHYARD_PRODUCTION_LIKE", "") not in ("", "0")
if PRODUCTION_LIKE:
    os.environ.setdefault("REFRESH_IN_BACKGROUND", "1")
    os.environ.setdefault("CALL_LOG_FLUSH_MS", "50")

from exchange.settings import *  # noqa: E402, F403

if PRODUCTION_LIKE and DATABASES["default"]["ENGINE"] == "plumbing.sqlite":  # noqa: F405
    # A file, as in production: threads on their own connections see each other's commits
    # (pytest-xdist gives each worker its own copy).
    DATABASES["default"]["TEST"]["NAME"] = str(BASE_DIR / ".run" / "test-production-like.sqlite3")  # noqa: F405
    (BASE_DIR / ".run").mkdir(exist_ok=True)  # noqa: F405
