"""The exchange's own settings (``exchange.settings``, read from the environment as in
production) with one change: circuit breakers never open.

The scenario's hung buyer times out on every ping; in production its circuit would
open after a few failures and the exchange would stop waiting for it, while the
baseline keeps waiting. Both targets must await the same buyers for the difference
between them to mean anything, so here the breaker's thresholds are out of reach.
"""

from __future__ import annotations

import os

from exchange.settings import *  # noqa: F403
from exchange.settings import MIDDLEWARE, OUTBOUND_ALLOWED_NETWORKS, SWITCHYARD

# The simulated buyers listen on 127.0.0.1 (outbound safety refuses it unless opened).
OUTBOUND_ALLOWED_NETWORKS = OUTBOUND_ALLOWED_NETWORKS or ["127.0.0.0/8"]

SWITCHYARD = {
    **SWITCHYARD,
    "CIRCUIT_FAILURES": 10**9,
    "CIRCUIT_MIN_CALLS": 10**9,
}

# The post-throughput step (bench.posts) counts each request's statements.
if os.environ.get("BENCH_COUNT_QUERIES") in ("1", "sql"):
    MIDDLEWARE = ["bench.querycount.QueryCountMiddleware", *MIDDLEWARE]
