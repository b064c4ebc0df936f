"""A server-side query counter for the post-throughput step (``bench.posts``).

With ``BENCH_COUNT_QUERIES=1`` ``bench.settings`` puts this middleware first: every
statement the request's thread sends on its database connection while the request
runs is counted, and the count goes back in an ``X-Bench-Queries`` header. Rows the
recorder writes in batches after the answer are not the request's and are not counted.
With ``BENCH_COUNT_QUERIES=sql`` each statement's start also goes to the server's log.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

HEADER = "X-Bench-Queries"
CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"})
SHOW_SQL = os.environ.get("BENCH_COUNT_QUERIES") == "sql"


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        count = data = 0

        def counted(
            execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
        ) -> Any:
            nonlocal count, data
            count += 1
            if sql.lstrip().split(" ", 1)[0].upper() not in CONTROL:
                data += 1
            if SHOW_SQL:
                print(f"bench-sql {count}: {sql[:100]}", file=sys.stderr, flush=True)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counted):
            response = self.get_response(request)
        response[HEADER] = f"{data}/{count}"
        return response
