from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from buyers.schedule import ScheduleError, compile_schedule, describe_closed, validate_schedule

CHICAGO = "America/Chicago"
# 2024-06-03 is a Monday; WEEK[day] is that week's date of the day.
WEEK = {day: 3 + i for i, day in enumerate(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])}


def at(day: str, hhmm: str, tz: str = "UTC") -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(2024, 6, WEEK[day], hour, minute, tzinfo=ZoneInfo(tz))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "time", "expected"),
    [
        ("mon", "08:00", True),  # the start is inclusive
        ("mon", "07:59", False),
        ("wed", "19:59", True),
        ("fri", "20:00", False),  # the end is exclusive
        ("sat", "12:00", False),  # days not listed are closed
        ("sun", "12:00", False),
    ],
)
def test_a_weekday_range_is_open_inside_its_window_only(
    day: str, time: str, expected: bool
) -> None:
    is_open = compile_schedule({"mon-fri": "08:00-20:00"}, CHICAGO)
    assert is_open(at(day, time, CHICAGO)) is expected


def test_the_window_is_read_in_the_buyers_timezone() -> None:
    is_open = compile_schedule({"mon-fri": "08:00-20:00"}, CHICAGO)
    assert not is_open(utc(2024, 6, 3, 12, 30))  # 07:30 in Chicago (CDT, UTC-5)
    assert is_open(utc(2024, 6, 3, 13, 0))  # 08:00 in Chicago
    assert is_open(datetime(2024, 6, 3, 13, 0))  # a naive datetime is taken as UTC


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (("sat", "08:59"), False),
        (("sat", "09:00"), True),
        (("sat", "12:30"), False),  # between the two windows
        (("sat", "14:00"), True),
        (("sat", "17:59"), True),
        (("sat", "18:00"), False),
    ],
)
def test_a_day_can_have_several_windows(when: tuple[str, str], expected: bool) -> None:
    is_open = compile_schedule({"sat": ["09:00-12:00", "14:00-18:00"]}, "UTC")
    assert is_open(at(*when)) is expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (("fri", "21:59"), False),
        (("fri", "22:00"), True),
        (("fri", "23:59"), True),
        (("sat", "00:00"), True),  # carried past midnight into Saturday
        (("sat", "01:59"), True),
        (("sat", "02:00"), False),
        (("sat", "23:00"), False),  # Saturday itself is not listed
        (("thu", "23:00"), False),
        (("fri", "01:00"), False),  # Thursday is closed, so nothing carries into Friday
    ],
)
def test_an_overnight_window_runs_into_the_next_day(when: tuple[str, str], expected: bool) -> None:
    is_open = compile_schedule({"fri": "22:00-02:00"}, "UTC")
    assert is_open(at(*when)) is expected


def test_an_overnight_window_on_sunday_runs_into_monday() -> None:
    is_open = compile_schedule({"sun": "23:00-01:00"}, "UTC")
    assert is_open(at("mon", "00:30"))
    assert not is_open(at("mon", "01:00"))
    assert not is_open(at("sun", "00:30"))


def test_twenty_four_hundred_closes_at_midnight() -> None:
    is_open = compile_schedule({"mon": "20:00-24:00", "tue": "00:00-24:00"}, "UTC")
    assert is_open(at("mon", "23:59"))
    assert is_open(at("tue", "00:00"))
    assert is_open(at("tue", "23:59"))
    assert not is_open(at("wed", "00:00"))


@pytest.mark.parametrize(
    ("day", "expected"),
    [("fri", True), ("sat", True), ("sun", True), ("mon", True), ("tue", False), ("thu", False)],
)
def test_a_day_range_can_wrap_past_sunday(day: str, expected: bool) -> None:
    is_open = compile_schedule({"fri-mon": "10:00-16:00"}, "UTC")
    assert is_open(at(day, "12:00")) is expected


def test_keys_and_windows_tolerate_case_and_spaces() -> None:
    is_open = compile_schedule({"Mon - Wed": "9:00 - 17:00"}, "UTC")
    assert is_open(at("tue", "09:00"))
    assert not is_open(at("thu", "09:00"))


@pytest.mark.parametrize("schedule", [{}, None])
def test_an_empty_schedule_is_always_open(schedule: Any) -> None:
    is_open = compile_schedule(schedule, CHICAGO)
    assert all(is_open(at(day, "03:00")) for day in WEEK)


def test_a_campaign_opens_at_local_eight_on_both_sides_of_spring_forward() -> None:
    # Chicago moves from CST (UTC-6) to CDT (UTC-5) at 02:00 on Sunday 2024-03-10.
    is_open = compile_schedule({"mon-fri": "08:00-20:00"}, CHICAGO)
    assert not is_open(utc(2024, 3, 8, 13, 59))  # Friday 07:59 CST
    assert is_open(utc(2024, 3, 8, 14, 0))  # Friday 08:00 CST
    assert not is_open(utc(2024, 3, 11, 12, 59))  # Monday 07:59 CDT
    assert is_open(utc(2024, 3, 11, 13, 0))  # Monday 08:00 CDT


def test_a_window_across_the_skipped_hour_follows_the_wall_clock() -> None:
    is_open = compile_schedule({"sun": "00:00-03:30"}, CHICAGO)
    assert is_open(utc(2024, 3, 10, 7, 59))  # 01:59 CST
    assert is_open(utc(2024, 3, 10, 8, 0))  # 03:00 CDT, a minute later in real time
    assert not is_open(utc(2024, 3, 10, 8, 30))  # 03:30 CDT


def test_the_repeated_hour_of_fall_back_is_open_both_times() -> None:
    # Chicago moves from CDT back to CST at 02:00 on Sunday 2024-11-03.
    is_open = compile_schedule({"sun": "01:00-02:00"}, CHICAGO)
    assert is_open(utc(2024, 11, 3, 6, 30))  # 01:30 CDT
    assert is_open(utc(2024, 11, 3, 7, 30))  # 01:30 CST
    assert not is_open(utc(2024, 11, 3, 8, 0))  # 02:00 CST


def test_describe_closed_names_the_local_time_and_the_schedule() -> None:
    saturday_morning = utc(2024, 6, 8, 12, 15)
    assert describe_closed({"mon-fri": "08:00-20:00"}, CHICAGO, saturday_morning) == (
        "closed: Sat 07:15 America/Chicago outside mon-fri 08:00-20:00"
    )
    schedule = {"mon-fri": "08:00-20:00", "sat": ["09:00-12:00", "14:00-18:00"]}
    assert describe_closed(schedule, CHICAGO, saturday_morning) == (
        "closed: Sat 07:15 America/Chicago outside mon-fri 08:00-20:00; "
        "sat 09:00-12:00, 14:00-18:00"
    )


def test_describe_closed_says_open_when_it_is_open() -> None:
    monday_noon = utc(2024, 6, 3, 17, 0)
    assert describe_closed({"mon-fri": "08:00-20:00"}, CHICAGO, monday_noon) == (
        "open: Mon 12:00 America/Chicago within mon-fri 08:00-20:00"
    )


def test_describe_closed_reports_a_broken_schedule_instead_of_raising() -> None:
    now = utc(2024, 6, 3, 17, 0)
    assert describe_closed({"monday": "08:00-20:00"}, CHICAGO, now).startswith(
        "closed: invalid schedule ('monday': not a day or day range"
    )
    assert describe_closed({"mon": "08:00-20:00"}, "Mars/Olympus", now) == (
        "closed: unknown timezone 'Mars/Olympus'"
    )


def test_validation_accepts_the_spec_shapes() -> None:
    assert validate_schedule({"mon-fri": "08:00-20:00"}) == []
    assert validate_schedule({"sat": ["09:00-12:00", "14:00-18:00"], "sun": []}) == []
    assert validate_schedule({"fri-mon": "22:00-02:00", "tue": "00:00-24:00"}) == []
    assert validate_schedule({}) == []


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"monday": "08:00-20:00"}, "'monday': not a day or day range"),
        ({"mon-fry": "08:00-20:00"}, "'mon-fry': not a day or day range"),
        ({"mon": "8am-8pm"}, "mon: '8am-8pm' is not a window like \"08:00-20:00\""),
        ({"mon": "25:00-26:00"}, "mon: 25:00-26:00: the start must be a time from 00:00 to 23:59"),
        ({"mon": "24:00-02:00"}, "the start must be a time from 00:00 to 23:59"),
        ({"mon": "08:00-24:01"}, "mon: 08:00-24:01: the end must be a time from 00:00 to 24:00"),
        ({"mon": "08:60-09:00"}, "the start must be a time"),
        ({"mon": "08:00-08:00"}, "the window is empty (for a whole day use 00:00-24:00)"),
        ({"mon": 800}, 'mon: expected "HH:MM-HH:MM" or a list of them'),
        ({"mon": ["08:00-12:00", None]}, "mon: None is not a window"),
        (["mon", "08:00-20:00"], "a schedule is a mapping of days to windows, got list"),
    ],
)
def test_validation_explains_what_is_wrong(schedule: Any, message: str) -> None:
    errors = validate_schedule(schedule)
    assert any(message in error for error in errors), errors


def test_compiling_an_invalid_schedule_or_timezone_raises() -> None:
    with pytest.raises(ScheduleError, match="not a day or day range"):
        compile_schedule({"weekdays": "08:00-20:00"}, CHICAGO)
    with pytest.raises(ScheduleError, match="unknown timezone 'Nowhere/Land'"):
        compile_schedule({"mon": "08:00-20:00"}, "Nowhere/Land")
