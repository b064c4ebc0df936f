"""A fixed-window request counter per API key in the shared cache."""

from __future__ import annotations

import time

from django.core.cache import cache


def hit(key_id: int, limit: tuple[int, int]) -> int:
    """Count one request; returns 0 when allowed, else the seconds to wait."""
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
