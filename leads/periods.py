"""Accounting periods: calendar months in the exchange's ``TIME_ZONE``, and closing them.

Once a month is closed no ledger row may carry a date inside it. ``booking_time`` is
the one place the ledger asks where a new row goes: a sale, return or adjustment whose
moment falls in a closed month is booked at the first open moment instead, so a closed
month's statement never changes. The database holds the same rule on its own (a
trigger, see migration ``leads.0004``), so a raw ORM call or SQL cannot bypass it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import ClosedPeriod

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(Exception):
    """A period that cannot be closed (not over yet, already closed, malformed)."""


def exchange_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def parse_month(value: str) -> date:
    """``YYYY-MM`` as the first day of that month; ``PeriodError`` when malformed."""
    match = MONTH_RE.match(value.strip())
    if not match:
        raise PeriodError(f"{value!r} is not a month: use YYYY-MM, e.g. 2026-10")
    return date(int(match[1]), int(match[2]), 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def local_midnight(day: date) -> datetime:
    """The first instant of ``day`` in the exchange's timezone (aware)."""
    return datetime.combine(day, time(0), tzinfo=exchange_zone())


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of ``month`` in the exchange's timezone."""
    return local_midnight(month.replace(day=1)), local_midnight(next_month(month))


def month_of(moment: datetime) -> date:
    return moment.astimezone(exchange_zone()).date().replace(day=1)


def closed_period_at(moment: datetime) -> ClosedPeriod | None:
    return ClosedPeriod.objects.filter(starts_at__lte=moment, ends_at__gt=moment).first()


def is_closed(month: date) -> bool:
    return ClosedPeriod.objects.filter(month=month.replace(day=1)).exists()


def booking_time(moment: datetime | None) -> datetime:
    """When a ledger row meant for ``moment`` (default: now) is dated: ``moment`` itself
    while its month is open, else the start of the first open month after it."""
    now = timezone.now()
    moment = moment or now
    if moment <= now and month_of(moment) == month_of(now):
        # A month closes only once it is over (``close_period``), so the month still
        # going on is open: no query on every sale.
        return moment
    period = closed_period_at(moment)
    while period is not None:
        moment = period.ends_at
        period = closed_period_at(moment)
    return moment


@transaction.atomic
def close_period(month: date, *, user: Any = None, now: datetime | None = None) -> ClosedPeriod:
    """Close ``month``: from now on its ledger rows are frozen and new ones go after it.

    Only a month that is over can be closed, once. On PostgreSQL the ledger table is
    locked in SHARE mode for the moment of the close, so a sale being written with a
    date in the month either commits before (and is in the closed books) or fails.
    """
    now = now or timezone.now()
    month = month.replace(day=1)
    starts_at, ends_at = month_bounds(month)
    if ends_at > now:
        raise PeriodError(f"{month:%Y-%m} is not over yet: a month closes after it ends")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE leads_ledgerentry IN SHARE MODE")
    # The month row is unique: two people closing at once get one close, one error.
    if ClosedPeriod.objects.select_for_update().filter(month=month).exists():
        raise PeriodError(f"{month:%Y-%m} is already closed")
    return ClosedPeriod.objects.create(
        month=month, starts_at=starts_at, ends_at=ends_at, closed_at=now, closed_by=user
    )
