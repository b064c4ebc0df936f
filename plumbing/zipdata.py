"""US ZIP codes, offline: which state a ZIP belongs to and where it lies.

The data set is the one the ``zipcodes`` package ships (about 42,000 ZIPs with their
state and coordinates), read once per process into a dict, so a lookup on the hot
path is one dict access. Nothing is downloaded at run time.

Reading the package's own list builds 42,000 dicts of a dozen fields (seconds on a
busy machine), so the three fields used here are kept in a small JSON file under
``.cache/`` beside the code, written on first use and named by the package version;
each later process reads that in a few tens of milliseconds.
"""

from __future__ import annotations

import json
import math
import os
import threading
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

EARTH_RADIUS_MILES = 3958.8


class ZipInfo(NamedTuple):
    state: str
    lat: float
    lon: float


_index: dict[str, list] | None = None
_lock = threading.Lock()


CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache"


def _from_package() -> dict[str, list]:
    import zipcodes  # deferred: only when the cache file is missing

    rows: dict[str, list] = {}
    for row in zipcodes.list_all():
        try:
            lat, lon = float(row["lat"]), float(row["long"])
        except (KeyError, TypeError, ValueError):
            lat = lon = math.nan
        rows[row["zip_code"]] = [row["state"], lat, lon]
    return rows


def _build() -> dict[str, list]:
    path = CACHE_DIR / f"zipdata-{version('zipcodes')}.json"
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        rows = _from_package()
        try:
            CACHE_DIR.mkdir(exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(rows, separators=(",", ":")))
            partial.replace(path)  # atomic: a reader never sees half a file
        except OSError:
            pass  # a read-only install reads the package each time
    return rows


def index() -> dict[str, list]:
    """The whole data set: 5-digit ZIP -> [state, latitude, longitude] (read on first use)."""
    global _index
    if _index is None:
        with _lock:
            if _index is None:
                _index = _build()
    return _index


def lookup(zip_code: str) -> ZipInfo | None:
    """The ZIP's state and centre, for ``"75001"`` or ``"75001-1234"``; None if unknown."""
    row = index().get(str(zip_code)[:5])
    return None if row is None else ZipInfo(*row)


def distance_miles(a: ZipInfo, b: ZipInfo) -> float:
    """Great-circle distance between two ZIPs' centres (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(h)))
