"""The test suite's settings: ``exchange.settings`` as users run it, read with
``SWITCHYARD_TESTING`` set (fast password hashing; pings' call logs written at once
rather than batched, so a test reads them as soon as its request returns)."""

from __future__ import annotations

import os

os.environ.setdefault("SWITCHYARD_TESTING", "1")

from exchange.settings import *  # noqa: E402, F403

# The simulated buyers of the suite listen on 127.0.0.1 (SPEC §4 outbound safety).
OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
