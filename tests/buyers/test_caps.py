"""Caps: period windows in the buyer's timezone, and taking and giving back leads and spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from buyers.caps import EPOCH, CapSpec, reached, release, reserve, usage, window_start
from buyers.models import Buyer, Cap, CapCounter
from tests.factories import make_campaign, make_vertical

NOW = datetime(2025, 6, 11, 15, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(tz: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz), fold=fold)  # type: ignore[misc]


# --- windows ---------------------------------------------------------------------------


def test_the_repeated_hour_of_a_dst_fall_back_is_two_hour_windows() -> None:
    first = local("America/New_York", 2025, 11, 2, 1, 30, fold=0)  # EDT
    second = local("America/New_York", 2025, 11, 2, 1, 30, fold=1)  # EST, an hour later

    assert window_start("hour", "America/New_York", first) == utc(2025, 11, 2, 5, 0)
    assert window_start("hour", "America/New_York", second) == utc(2025, 11, 2, 6, 0)


def test_an_hour_starts_on_the_local_hour_in_a_half_hour_timezone() -> None:
    assert window_start("hour", "Asia/Kolkata", utc(2025, 3, 9, 16, 10)) == utc(2025, 3, 9, 15, 30)


def test_the_day_of_a_spring_forward_starts_at_local_midnight_and_lasts_23_hours() -> None:
    day = window_start("day", "America/New_York", local("America/New_York", 2025, 3, 9, 12, 0))
    next_day = window_start("day", "America/New_York", local("America/New_York", 2025, 3, 10, 0, 5))

    assert day == utc(2025, 3, 9, 5, 0)  # midnight EST
    assert next_day == utc(2025, 3, 10, 4, 0)  # midnight EDT
    assert next_day - day == timedelta(hours=23)


def test_a_day_whose_midnight_does_not_exist_starts_at_the_clock_change() -> None:
    # Santiago jumps from 00:00 to 01:00 on 8 September 2024.
    noon = local("America/Santiago", 2024, 9, 8, 12, 0)

    assert window_start("day", "America/Santiago", noon) == utc(2024, 9, 8, 4, 0)


def test_a_week_starts_on_monday_in_the_buyer_timezone() -> None:
    sunday_night = utc(2025, 6, 15, 21, 30)  # Sunday 23:30 in Berlin
    monday_early = utc(2025, 6, 15, 22, 30)  # Monday 00:30 in Berlin, still Sunday in UTC

    assert window_start("week", "Europe/Berlin", sunday_night) == utc(2025, 6, 8, 22, 0)
    assert window_start("week", "Europe/Berlin", monday_early) == utc(2025, 6, 15, 22, 0)


def test_a_month_turns_at_local_midnight_not_utc_midnight() -> None:
    # 1 March 01:00 in Sydney is still February in UTC; 28 February 21:00 in Los
    # Angeles is already March in UTC.
    assert window_start("month", "Australia/Sydney", utc(2025, 2, 28, 14, 0)) == utc(
        2025, 2, 28, 13, 0
    )
    assert window_start("month", "America/Los_Angeles", utc(2025, 3, 1, 5, 0)) == utc(
        2025, 2, 1, 8, 0
    )


def test_a_total_cap_has_one_window_for_all_time() -> None:
    assert window_start("total", "Asia/Tokyo", utc(1999, 1, 1)) == EPOCH
    assert window_start("total", "UTC", utc(2040, 12, 31)) == EPOCH


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        window_start("day", "UTC", datetime(2025, 1, 1))


# --- counting --------------------------------------------------------------------------


@pytest.fixture
def buyer() -> Buyer:
    return Buyer.objects.create(slug="summit", name="Summit", timezone="America/Chicago")


def cap_spec(buyer: Buyer, period: str = "day", **limits: Any) -> CapSpec:
    """A campaign cap of ``buyer`` (a new campaign each time)."""
    slug = f"c{Cap.objects.count()}"
    campaign = make_campaign(make_vertical(f"v-{slug}"), slug, buyer=buyer)
    cap = Cap.objects.create(campaign=campaign, period=period, **limits)
    return CapSpec.from_cap(cap, buyer.timezone)


def buyer_cap(buyer: Buyer, period: str = "day", **limits: Any) -> CapSpec:
    return CapSpec.from_cap(
        Cap.objects.create(buyer=buyer, period=period, **limits), buyer.timezone
    )


def counter(spec: CapSpec, now: datetime = NOW) -> tuple[int, D]:
    row = CapCounter.objects.get(cap_id=spec.cap_id, window_start=spec.window(now))
    return row.leads, row.spend


@pytest.mark.django_db
def test_a_leads_cap_sells_exactly_its_limit(buyer: Buyer) -> None:
    spec = cap_spec(buyer, max_leads=3)

    results = [reserve([spec], D("10.00"), NOW) for _ in range(5)]

    assert [r is not None for r in results] == [True, True, True, False, False]
    assert counter(spec) == (3, D("30.0000"))
    assert reached([spec], NOW) == {spec.cap_id}


@pytest.mark.django_db
def test_a_spend_cap_takes_varying_prices_up_to_exactly_its_limit(buyer: Buyer) -> None:
    spec = cap_spec(buyer, max_spend=D("100.00"))

    taken = [reserve([spec], D(p), NOW) is not None for p in ("40", "40", "25.01", "20")]
    at_limit = reserve([spec], D("0.01"), NOW)

    assert taken == [True, True, False, True]  # 105.01 would pass the limit; 100.00 does not
    assert at_limit is None
    assert counter(spec) == (3, D("100.0000"))


@pytest.mark.django_db
def test_a_spend_cap_lands_exactly_on_a_limit_made_of_cents(buyer: Buyer) -> None:
    spec = cap_spec(buyer, max_spend=D("0.40"))

    # 0.10 + 0.20 is not 0.30 in binary floating point: the last 0.10 must still fit.
    taken = [reserve([spec], D(p), NOW) is not None for p in ("0.10", "0.20", "0.10")]

    assert taken == [True, True, True]
    assert reserve([spec], D("0.0001"), NOW) is None
    assert counter(spec) == (3, D("0.4000"))


@pytest.mark.django_db
def test_a_reservation_takes_from_every_cap_or_from_none(buyer: Buyer) -> None:
    roomy = cap_spec(buyer, max_leads=10)
    full = buyer_cap(buyer, max_leads=1)
    assert reserve([full], D("5"), NOW) is not None

    assert reserve([roomy, full], D("5"), NOW) is None
    assert counter(roomy) == (0, D("0"))
    assert counter(full) == (1, D("5.0000"))


@pytest.mark.django_db
def test_release_gives_back_exactly_what_was_taken_once(buyer: Buyer) -> None:
    leads_cap = cap_spec(buyer, max_leads=1)
    spend_cap = buyer_cap(buyer, max_spend=D("50.00"))
    reservation = reserve([leads_cap, spend_cap], D("12.3456"), NOW)
    assert reservation is not None
    assert set(reservation.cap_ids) == {leads_cap.cap_id, spend_cap.cap_id}

    release(reservation)
    release(reservation)

    assert counter(leads_cap) == (0, D("0.0000"))
    assert counter(spend_cap) == (0, D("0.0000"))
    assert reserve([leads_cap, spend_cap], D("50.00"), NOW) is not None


@pytest.mark.django_db
def test_release_gives_back_to_the_window_the_lead_was_taken_from(buyer: Buyer) -> None:
    spec = cap_spec(buyer, max_leads=1)
    late_tonight = local("America/Chicago", 2025, 6, 10, 23, 59)
    tomorrow = local("America/Chicago", 2025, 6, 11, 0, 1)
    yesterdays = reserve([spec], D("1"), late_tonight)
    assert yesterdays is not None
    assert reserve([spec], D("1"), tomorrow) is not None

    release(yesterdays)

    assert counter(spec, late_tonight) == (0, D("0.0000"))
    assert counter(spec, tomorrow) == (1, D("1.0000"))


@pytest.mark.django_db
def test_a_day_cap_resets_at_midnight_in_the_buyer_timezone(buyer: Buyer) -> None:
    spec = cap_spec(buyer, max_leads=1)
    evening = local("America/Chicago", 2025, 6, 10, 20, 0)
    before_midnight = local("America/Chicago", 2025, 6, 10, 23, 59)  # June 11 in UTC
    after_midnight = local("America/Chicago", 2025, 6, 11, 0, 1)

    assert reserve([spec], D("1"), evening) is not None
    assert reserve([spec], D("1"), before_midnight) is None
    assert reserve([spec], D("1"), after_midnight) is not None


@pytest.mark.django_db
def test_reached_reads_every_cap_in_one_query(buyer: Buyer, django_assert_num_queries: Any) -> None:
    specs = [buyer_cap(buyer, period, max_leads=1) for period in ("hour", "day", "week")] * 10
    specs += [buyer_cap(buyer, "month", max_spend=D("10")), buyer_cap(buyer, "total", max_leads=5)]
    reserve(specs[:2], D("1"), NOW)

    with django_assert_num_queries(1):
        full = reached(specs, NOW)

    assert full == {specs[0].cap_id, specs[1].cap_id}


@pytest.mark.django_db
def test_a_spend_cap_is_reached_when_the_known_price_would_pass_it(buyer: Buyer) -> None:
    spec = buyer_cap(buyer, max_spend=D("100.00"))
    assert reserve([spec], D("90.00"), NOW) is not None

    assert reached([spec], NOW) == set()
    assert reached([spec], NOW, price=D("10.00")) == set()
    assert reached([spec], NOW, price=D("10.01")) == {spec.cap_id}
    reserve([spec], D("10.00"), NOW)
    assert reached([spec], NOW) == {spec.cap_id}


@pytest.mark.django_db
def test_a_cap_not_yet_used_in_this_window_is_not_reached(buyer: Buyer) -> None:
    spec = buyer_cap(buyer, "hour", max_leads=1)
    assert reserve([spec], D("1"), NOW) is not None

    assert reached([spec], NOW + timedelta(hours=1)) == set()


def test_no_caps_take_nothing_and_read_nothing() -> None:
    # No django_db mark: any query here would fail the test.
    assert reached([], NOW) == set()
    reservation = reserve([], D("3"), NOW)

    assert reservation is not None and reservation.cap_ids == ()


@pytest.mark.django_db
def test_usage_shows_the_current_window_of_the_buyer_timezone(buyer: Buyer) -> None:
    spec = buyer_cap(buyer, max_spend=D("100"))
    reserve([spec], D("7.50"), local("America/Chicago", 2025, 6, 10, 9, 0))
    cap = Cap.objects.get(pk=spec.cap_id)

    assert usage(cap, local("America/Chicago", 2025, 6, 10, 23, 0)) == (1, D("7.5000"))
    assert usage(cap, local("America/Chicago", 2025, 6, 11, 1, 0)) == (0, D("0"))
