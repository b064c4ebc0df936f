"""Campaign schedules (SPEC §5, §9): when a campaign takes leads, in its buyer's timezone.

Shape: ``{"mon-fri": "08:00-20:00", "sat": ["09:00-12:00", "14:00-18:00"]}``. Keys are days
``mon``..``sun`` or ranges of them (``mon-fri``, or wrapping ones like ``fri-mon``); values
are one ``"HH:MM-HH:MM"`` window or a list of them, with ``24:00`` allowed as an end. A window
ending before it starts runs past midnight and belongs to its start day. An empty schedule
is always open; otherwise days it does not list are closed.

``compile_schedule`` runs once, at config load; the closure it returns is a timezone
conversion and a few integer comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MIDNIGHT = 24 * 60
_WINDOW_RE = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_DAYS_RE = re.compile(r"\s*([a-z]{3})\s*(?:-\s*([a-z]{3})\s*)?")

# Per weekday (0 = Monday), the open minutes as half-open [start, end) intervals.
Week = tuple[tuple[tuple[int, int], ...], ...]


class ScheduleError(ValueError):
    """A schedule or timezone that does not validate; its message lists every problem."""


def validate_schedule(schedule: Any) -> list[str]:
    """Return readable problems with ``schedule`` (empty when it is valid)."""
    return _parse(schedule)[1]


def compile_schedule(schedule: Mapping[str, Any] | None, tz: str) -> Callable[[datetime], bool]:
    """Compile ``schedule`` into ``is_open(now)`` for the buyer's timezone ``tz``.

    ``now`` is an aware datetime (a naive one is taken as UTC); it is converted with
    zoneinfo, so windows follow the local wall clock across DST changes. Raises
    ``ScheduleError`` on an invalid schedule or an unknown timezone.
    """
    week, errors = _parse(schedule)
    if week is None:
        if errors:
            raise ScheduleError("; ".join(errors))
        return _always_open
    zone = _zone(tz)
    if zone is None:
        raise ScheduleError(f"unknown timezone {tz!r}")

    def is_open(now: datetime) -> bool:
        local = _local(now, zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in week[local.weekday()])

    return is_open


def describe_closed(schedule: Mapping[str, Any] | None, tz: str, now: datetime) -> str:
    """A short reason for the per-lead trace, e.g.
    ``closed: Sat 07:15 America/Chicago outside mon-fri 08:00-20:00``.

    Not for the hot path: it compiles ``schedule`` on every call. Says ``open: ...`` when
    the schedule is in fact open at ``now``.
    """
    errors = validate_schedule(schedule)
    if errors:
        return f"closed: invalid schedule ({errors[0]})"
    zone = _zone(tz)
    if zone is None:
        return f"closed: unknown timezone {tz!r}"
    local = _local(now, zone)
    stamp = f"{_DAY_LABELS[local.weekday()]} {local:%H:%M} {tz}"
    if not schedule:
        return f"open: {stamp} (no schedule)"
    if compile_schedule(schedule, tz)(now):
        return f"open: {stamp} within {_summary(schedule)}"
    return f"closed: {stamp} outside {_summary(schedule)}"


def _always_open(now: datetime) -> bool:
    return True


def _zone(tz: Any) -> ZoneInfo | None:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def _local(now: datetime, zone: ZoneInfo) -> datetime:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(zone)


def _summary(schedule: Mapping[str, Any]) -> str:
    parts = []
    for key, value in schedule.items():
        windows = [value] if isinstance(value, str) else list(value)
        parts.append(f"{key} {', '.join(w.strip() for w in windows) or 'closed'}")
    return "; ".join(parts)


def _parse(schedule: Any) -> tuple[Week | None, list[str]]:
    """The open intervals of each weekday and the problems found; (None, []) = always open."""
    if schedule is None or (isinstance(schedule, Mapping) and not schedule):
        return None, []
    if not isinstance(schedule, Mapping):
        return None, [f"a schedule is a mapping of days to windows, got {type(schedule).__name__}"]
    days: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    errors: list[str] = []
    for key, value in schedule.items():
        day_indexes = _day_range(key)
        if day_indexes is None:
            errors.append(f"{key!r}: not a day or day range (use mon..sun or e.g. mon-fri)")
            continue
        windows = [value] if isinstance(value, str) else value
        if not isinstance(windows, list):
            errors.append(f'{key}: expected "HH:MM-HH:MM" or a list of them')
            continue
        for window in windows:
            parsed = _window(window)
            if isinstance(parsed, str):
                errors.append(f"{key}: {parsed}")
                continue
            start, end = parsed
            for day in day_indexes:
                if start < end:
                    days[day].append((start, end))
                    continue
                # Past midnight: the tail belongs to the start day but opens the next one.
                days[day].append((start, _MIDNIGHT))
                if end:
                    days[(day + 1) % 7].append((0, end))
    if errors:
        return None, errors
    return tuple(tuple(sorted(intervals)) for intervals in days), []


def _day_range(key: Any) -> list[int] | None:
    match = _DAYS_RE.fullmatch(key.lower()) if isinstance(key, str) else None
    if match is None or match[1] not in DAYS or (match[2] and match[2] not in DAYS):
        return None
    first = DAYS.index(match[1])
    last = DAYS.index(match[2]) if match[2] else first
    # A range may wrap past Sunday: fri-mon is fri, sat, sun, mon.
    return [(first + i) % 7 for i in range((last - first) % 7 + 1)]


def _window(window: Any) -> tuple[int, int] | str:
    """(start, end) in minutes since midnight, or what is wrong with ``window``."""
    match = _WINDOW_RE.fullmatch(window) if isinstance(window, str) else None
    if match is None:
        return f'{window!r} is not a window like "08:00-20:00"'
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    if start_h > 23 or start_m > 59:
        return f"{window.strip()}: the start must be a time from 00:00 to 23:59"
    if end_m > 59 or end_h > 24 or (end_h == 24 and end_m):
        return f"{window.strip()}: the end must be a time from 00:00 to 24:00"
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start == end:
        return f"{window.strip()}: the window is empty (for a whole day use 00:00-24:00)"
    return start, end
