"""A fixed-window request counter per API key in the shared cache.

The cache must be shared by every web process (Redis in production): outside DEBUG the
application refuses to start with rate limits set and a per-process cache.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError


def hit(key_id: int | str, limit: tuple[int, int]) -> int:
    """Count one request against ``key_id`` (an API key's id, or a name such as a
    postback URL's); returns 0 when allowed, else the seconds to wait."""
    count, seconds = limit
    window = int(time.time() // seconds)
    name = f"rl:{key_id}:{seconds}:{window}"
    if cache.add(name, 1, timeout=seconds + 1):
        used = 1
    else:
        try:
            used = cache.incr(name)
        except ValueError:  # expired between add and incr
            cache.add(name, 1, timeout=seconds + 1)
            used = 1
    if used <= count:
        return 0
    return max(1, int((window + 1) * seconds - time.time()) + 1)


# Caches that live inside one process: a limit counted there is multiplied by the
# number of web processes (and resets with each restart).
PER_PROCESS_CACHES = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)


def cache_is_shared() -> bool:
    return settings.CACHES["default"]["BACKEND"] not in PER_PROCESS_CACHES


def ensure_shared_cache() -> None:
    """Refuse to start (outside DEBUG) when rate limits are set but counted per process.

    Called when the web application loads (``exchange.wsgi``/``asgi``). A database that
    cannot be read yet cannot say whether limits are set: the start goes on, as every
    API request would answer 503 meanwhile anyway.
    """
    if settings.DEBUG or cache_is_shared():
        return
    from buyers.models import Buyer
    from exchange.models import Publisher

    try:
        limited = [
            *Publisher.objects.exclude(rate_limit="").values_list("slug", flat=True)[:3],
            *Buyer.objects.exclude(rate_limit="").values_list("slug", flat=True)[:3],
        ]
    except DatabaseError:
        return
    if limited:
        raise ImproperlyConfigured(
            f"Rate limits are set (e.g. for {', '.join(limited)}) but CACHE_URL is a "
            f"per-process cache ({settings.CACHES['default']['BACKEND']}): each web process "
            "would count on its own, so N processes would allow N times the limit. Set "
            "CACHE_URL to Redis (e.g. rediscache://127.0.0.1:6379/1), shared by every process."
        )
