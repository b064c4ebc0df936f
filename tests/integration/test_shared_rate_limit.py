"""Two real web processes (gunicorn) on the shared Redis cache count one rate limit."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from django.core.cache import cache

from tests.factories import make_publisher
from tests.integration.conftest import needs_integration

pytestmark = [*needs_integration(), pytest.mark.django_db(transaction=True)]

LIMIT = 6
SOME_LEAD = "/api/v1/leads/00000000-0000-4000-8000-000000000000"


def status(url: str, key: str) -> int:
    request = urllib.request.Request(url + SOME_LEAD, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_two_web_processes_on_redis_share_one_rate_limit(
    web_processes: Callable[..., list[str]],
) -> None:
    cache.clear()  # key ids restart with each test database; stale counts must not
    _, key = make_publisher(rate_limit=f"{LIMIT}/hour")
    if time.time() % 3600 > 3590:
        time.sleep(11)  # not across the hour's window boundary
    first, second = web_processes()

    answers = [status(url, key) for _ in range(LIMIT) for url in (first, second)]

    assert answers.count(404) == LIMIT  # let through: no such lead
    assert answers.count(429) == LIMIT
    assert answers[-1] == 429 and status(first, key) == 429
