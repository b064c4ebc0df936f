"""Caps on what a campaign or a buyer takes per hour, day, week, month or in total.

A cap counts **sold** leads and their spend in one counter row per period window
(``CapCounter``). Eligibility reads the counters (``reached``: one query for all the
caps of a ping); the sale takes from them with a conditional ``UPDATE`` per cap
(``reserve``), so concurrent posts can never push a counter past its limit, and
gives back exactly what it took when the buyer does not accept the post (``release``).

Windows start in the owning buyer's timezone and are stored as UTC instants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import F

from .choices import CapPeriod
from .models import Cap, CapCounter

# The one window of a "total" cap.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SPEND_PLACES = Decimal("0.0001")  # CapCounter.spend's decimal places
# Half of the counter's smallest step. Limits compare against it so that SQLite's
# floating-point decimals never refuse a lead that lands exactly on the limit; with
# exact numerics (PostgreSQL) it changes nothing, as no stored value lies in between.
SPEND_SLACK = Decimal("0.00005")


@dataclass(frozen=True, slots=True)
class CapSpec:
    """A compiled cap: what the hot path needs, without touching the ``Cap`` row."""

    cap_id: int
    period: str
    max_leads: int | None
    max_spend: Decimal | None
    tz: str

    @classmethod
    def from_cap(cls, cap: Cap, tz: str) -> CapSpec:
        """The spec of ``cap``, whose windows start in timezone ``tz`` (its buyer's)."""
        return cls(
            cap_id=cap.pk,
            period=cap.period,
            max_leads=cap.max_leads,
            max_spend=cap.max_spend,
            tz=tz,
        )

    def window(self, now: datetime) -> datetime:
        return window_start(self.period, self.tz, now)


@dataclass(slots=True)
class Reservation:
    """What ``reserve`` took: one lead and ``price`` from each (cap, window)."""

    taken: tuple[tuple[int, datetime], ...]
    price: Decimal
    released: bool = False

    @property
    def cap_ids(self) -> tuple[int, ...]:
        return tuple(cap_id for cap_id, _ in self.taken)

    def as_json(self) -> dict[str, Any]:
        """What a delivery row keeps of it, so that a crash cannot lose it."""
        return {
            "price": str(self.price),
            "taken": [[cap_id, window.isoformat()] for cap_id, window in self.taken],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reservation:
        return cls(
            taken=tuple(
                (int(cap_id), datetime.fromisoformat(window)) for cap_id, window in data["taken"]
            ),
            price=Decimal(data["price"]),
        )


def window_start(period: str, tz: str, now: datetime) -> datetime:
    """The start of the ``period`` window holding ``now``, in timezone ``tz``, as UTC.

    Weeks start on Monday. Days, weeks and months start at local midnight, so across
    a DST change a day window is 23 or 25 hours long.
    """
    if now.tzinfo is None:
        raise ValueError("window_start needs an aware datetime")
    if period == CapPeriod.TOTAL:
        return EPOCH
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    if period == CapPeriod.HOUR:
        # replace() keeps ``fold``, so the repeated hour of a DST fall-back stays apart.
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    if period == CapPeriod.DAY:
        day = local.date()
    elif period == CapPeriod.WEEK:
        day = local.date() - timedelta(days=local.weekday())
    elif period == CapPeriod.MONTH:
        day = local.date().replace(day=1)
    else:
        raise ValueError(f"unknown cap period {period!r}")
    # Where midnight does not exist (a DST jump at 00:00), fold=0 resolves it to the
    # instant of the jump: still the first moment of that local day.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def reached(caps: Sequence[CapSpec], now: datetime, price: Decimal | None = None) -> set[int]:
    """The ids of the caps that cannot take another lead now (one query for all of them).

    A spend cap is reached when its spend is at the limit or, if ``price`` is known,
    when ``price`` would take it past the limit.
    """
    windows = {spec.cap_id: spec.window(now) for spec in caps}
    if not windows:
        return set()
    used = _counters(windows)
    amount = None if price is None else _spend(price)
    full: set[int] = set()
    for spec in caps:
        leads, spend = used.get(spec.cap_id, (0, Decimal(0)))
        if spec.max_leads is not None and leads + 1 > spec.max_leads:
            full.add(spec.cap_id)
        elif spec.max_spend is not None:
            # Price unknown: full once nothing is left. Price known: full if it won't fit.
            over = spend >= spec.max_spend if amount is None else spend + amount > spec.max_spend
            if over:
                full.add(spec.cap_id)
    return full


@cache
def _counters_sql(pairs: int) -> str:
    """The counters of ``pairs`` (cap, window) pairs: built once per count, since this
    runs on every ping that has a capped campaign and the ORM would build it anew."""
    quote = connection.ops.quote_name
    table, cap, window = (
        quote(CapCounter._meta.db_table),
        quote(CapCounter._meta.get_field("cap").column),
        quote(CapCounter._meta.get_field("window_start").column),
    )
    # Each pair on the (cap, window) unique index.
    match = " OR ".join([f"({cap} = %s AND {window} = %s)"] * pairs)
    return f"SELECT {cap}, {quote('leads')}, {quote('spend')} FROM {table} WHERE {match}"


def _counters(windows: dict[int, datetime]) -> dict[int, tuple[int, Decimal]]:
    """Cap id -> (leads, spend) in the given windows, for the counters that exist."""
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = []
    for cap_id, window in windows.items():
        params += [cap_id, adapt(window)]
    with connection.cursor() as cursor:
        cursor.execute(_counters_sql(len(windows)), params)
        rows = cursor.fetchall()
    # SQLite hands back a number, PostgreSQL a Decimal: the same Decimal either way.
    return {cap_id: (int(leads), _spend(Decimal(str(spend)))) for cap_id, leads, spend in rows}


def reserve(
    caps: Sequence[CapSpec],
    price: Decimal,
    now: datetime,
    *,
    also: Callable[[Reservation], None] | None = None,
) -> Reservation | None:
    """Take one lead and ``price`` of spend from every cap, or nothing at all.

    Returns ``None`` when any cap would pass its limit. Safe under concurrency: each
    cap is raised by a conditional ``UPDATE`` that the database re-checks against the
    latest committed counter, so no interleaving of sales can exceed a cap. ``also``
    runs in the same transaction once every cap is taken (the caller notes the
    reservation where a crash recovery will find it).
    """
    amount = _spend(price)
    # One fixed order (by cap id) for every caller: two sales sharing caps then lock
    # the counter rows in the same order and cannot deadlock each other.
    specs = sorted({spec.cap_id: spec for spec in caps}.values(), key=lambda s: s.cap_id)
    taken = tuple((spec.cap_id, spec.window(now)) for spec in specs)
    if not specs:
        return Reservation(taken=(), price=amount)
    reservation = Reservation(taken=taken, price=amount)
    try:
        with transaction.atomic():  # a full cap undoes the earlier takes
            for spec, (cap_id, window) in zip(specs, taken, strict=True):
                if _take(spec, window, amount):
                    continue
                # No counter yet for this window (the first lead of the day), or full.
                CapCounter.objects.bulk_create(
                    [CapCounter(cap_id=cap_id, window_start=window)], ignore_conflicts=True
                )
                if not _take(spec, window, amount):
                    raise _CapFull
            if also is not None:
                also(reservation)
    except _CapFull:
        # The window's counters exist from the first attempt on, full or not.
        CapCounter.objects.bulk_create(
            [CapCounter(cap_id=cap_id, window_start=window) for cap_id, window in taken],
            ignore_conflicts=True,
        )
        return None
    return reservation


def release(reservation: Reservation) -> None:
    """Give back what ``reservation`` took (the post was not sold). Only the first call
    gives anything back."""
    if reservation.released:
        return
    reservation.released = True
    with transaction.atomic():
        for cap_id, window in reservation.taken:
            # leads >= 1 keeps a counter from going negative should it have been reset.
            CapCounter.objects.filter(cap_id=cap_id, window_start=window, leads__gte=1).update(
                leads=F("leads") - 1, spend=F("spend") - reservation.price
            )


def usage(cap: Cap, now: datetime, tz: str | None = None) -> tuple[int, Decimal]:
    """The leads and spend ``cap`` has used in its current window (for the admin).

    ``tz`` is the owning buyer's timezone; it is read from the database when omitted.
    """
    if tz is None:
        tz = cap.owner.timezone
    window = window_start(cap.period, tz, now)
    row = (
        CapCounter.objects.filter(cap=cap, window_start=window)
        .values_list("leads", "spend")
        .first()
    )
    return row if row is not None else (0, Decimal(0))


class _CapFull(Exception):
    pass


def _spend(price: Decimal) -> Decimal:
    if isinstance(price, float):
        raise TypeError("prices are Decimal, never float")
    return Decimal(price).quantize(SPEND_PLACES)


def _take(spec: CapSpec, window: datetime, amount: Decimal) -> bool:
    counter = CapCounter.objects.filter(cap_id=spec.cap_id, window_start=window)
    if spec.max_leads is not None:
        counter = counter.filter(leads__lte=spec.max_leads - 1)
    if spec.max_spend is not None:
        counter = counter.filter(spend__lte=spec.max_spend - amount + SPEND_SLACK)
    return counter.update(leads=F("leads") + 1, spend=F("spend") + amount) == 1
