"""US ZIP codes, offline: which state a ZIP belongs to and where it lies.

The data set is the one the ``zipcodes`` package ships (about 42,000 ZIPs with their
state and coordinates), read once per process into a dict, so a lookup on the hot
path is one dict access. Nothing is downloaded at run time.
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple

EARTH_RADIUS_MILES = 3958.8


class ZipInfo(NamedTuple):
    state: str
    lat: float
    lon: float


_index: dict[str, ZipInfo] | None = None
_lock = threading.Lock()


def _build() -> dict[str, ZipInfo]:
    import zipcodes

    index: dict[str, ZipInfo] = {}
    for row in zipcodes.list_all():
        try:
            lat, lon = float(row["lat"]), float(row["long"])
        except (KeyError, TypeError, ValueError):
            lat = lon = math.nan
        index[row["zip_code"]] = ZipInfo(row["state"], lat, lon)
    return index


def index() -> dict[str, ZipInfo]:
    """The whole data set by 5-digit ZIP (built on first use: about half a second)."""
    global _index
    if _index is None:
        with _lock:
            if _index is None:
                _index = _build()
    return _index


def lookup(zip_code: str) -> ZipInfo | None:
    """The ZIP's state and centre, for ``"75001"`` or ``"75001-1234"``; None if unknown."""
    return index().get(str(zip_code)[:5])


def distance_miles(a: ZipInfo, b: ZipInfo) -> float:
    """Great-circle distance between two ZIPs' centres (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(h)))
