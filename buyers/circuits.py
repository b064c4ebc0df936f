"""Circuit breakers per endpoint, shared by every web and worker process through the database.

A circuit is ``closed`` (calls go through), ``open`` (calls are skipped until its
``retry_at``) or ``half_open`` (exactly one caller claimed the probe with a conditional
UPDATE; everyone else keeps skipping). It opens after ``CIRCUIT_FAILURES`` consecutive
failures, or when failures make up ``CIRCUIT_FAILURE_RATIO`` of at least
``CIRCUIT_MIN_CALLS`` calls within ``CIRCUIT_WINDOW_SECONDS`` (read from the transaction
log, at most once per ``CIRCUIT_RATIO_CHECK_SECONDS`` per endpoint and process). A
successful probe closes it; a failed one opens it for another cool-down.

Each process reads the circuits that are not plainly healthy (open, probing, or
closed with a failure streak) at most once per ``CIRCUIT_STATE_SECONDS`` and answers
from that snapshot, kept up to date with its own changes: healthy traffic costs
no query and no write; rows only change when something failed or a probe reports. A
circuit opened by another process is seen within ``CIRCUIT_STATE_SECONDS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from .choices import CircuitStatus, Outcome
from .models import CircuitEvent, CircuitState, Endpoint

# A buyer that answered (even "no") is up; these mean it is not.
FAILURE_OUTCOMES = frozenset(
    {Outcome.TIMEOUT, Outcome.TRANSPORT_ERROR, Outcome.HTTP_ERROR, Outcome.BAD_RESPONSE}
)
NOT_A_CALL = frozenset({Outcome.CIRCUIT_OPEN, Outcome.SIMULATED})

# Counts an endpoint's recent calls from the outbound call log: (campaign ids, kinds of
# call, since, outcomes that are failures, outcomes that are not calls) -> rows of
# (campaign id, kind, calls, failures). The log belongs to leads (each row names its lead),
# so leads registers the reader when it loads (``leads.apps``); buyers never import leads.
CallCounter = Callable[
    [Collection[int], Collection[str], datetime, Collection[str], Collection[str]],
    Iterable[tuple[int, str, int, int]],
]
_call_counter: CallCounter | None = None


def register_call_counter(counter: CallCounter) -> None:
    """Name the function the failure ratio reads recent calls with."""
    global _call_counter
    _call_counter = counter


# When this process last read each endpoint's failure ratio (monotonic seconds): a
# buyer failing on every ping costs one ratio query per process per interval.
_ratio_read_at: dict[int, float] = {}


def limit(name: str) -> Any:
    """A breaker setting (``CIRCUIT_*`` in ``settings.SWITCHYARD``)."""
    return settings.SWITCHYARD[name]


# --- asking ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Known:
    """A circuit that is not plainly healthy, as this process last read it."""

    pk: int
    status: str
    consecutive_failures: int
    retry_at: datetime | None


_snapshot: tuple[float, dict[int, _Known]] | None = None  # (read at, endpoint id -> state)


def _known() -> dict[int, _Known]:
    """The circuits that are open, probing or counting failures, by endpoint id."""
    snapshot = _snapshot
    if snapshot is None or time.monotonic() - snapshot[0] >= limit("CIRCUIT_STATE_SECONDS"):
        snapshot = refresh_snapshot()
    return snapshot[1]


def refresh_snapshot() -> tuple[float, dict[int, _Known]]:
    """Read the circuits that are not plainly healthy anew (also done in the background
    by ``exchange.config_cache.Refresher``, so a ping seldom waits for it)."""
    global _snapshot
    read_at = time.monotonic()
    rows = CircuitState.objects.exclude(
        status=CircuitStatus.CLOSED, consecutive_failures=0
    ).values_list("endpoint_id", "pk", "status", "consecutive_failures", "retry_at")
    _snapshot = (read_at, {row[0]: _Known(*row[1:]) for row in rows})
    return _snapshot


def forget() -> None:
    """Drop this process's snapshot: the next question reads the database."""
    global _snapshot
    _snapshot = None


def open_endpoints(endpoint_ids: Iterable[int]) -> set[int]:
    """The endpoints to skip now (no query while the snapshot is fresh; a write only
    when a probe is due).

    An endpoint whose cool-down has passed is let through for exactly one probe: the
    caller whose conditional UPDATE claims it gets it off this list. A probe claim
    lasts one cool-down, so a probe whose process died is taken over after it.
    """
    known = _known()
    now = timezone.now()
    blocked = set()
    for endpoint_id in endpoint_ids:
        state = known.get(endpoint_id)
        if state is None or state.status == CircuitStatus.CLOSED:
            continue
        cooling = state.retry_at is not None and state.retry_at > now
        if cooling or not _claim_probe(state.pk, endpoint_id, state.status, now):
            blocked.add(endpoint_id)
    return blocked


def allows(endpoint_id: int) -> bool:
    """May one call go to this endpoint now? Claims the probe when one is due."""
    return endpoint_id not in open_endpoints([endpoint_id])


def probe_at(endpoint_id: int) -> datetime | None:
    """When an open circuit next lets a probe through (None when it is closed)."""
    return (
        CircuitState.objects.filter(endpoint_id=endpoint_id)
        .exclude(status=CircuitStatus.CLOSED)
        .values_list("retry_at", flat=True)
        .first()
    )


def _claim_probe(pk: int, endpoint_id: int, status: str, now: datetime) -> bool:
    cool_down = timedelta(seconds=limit("CIRCUIT_COOL_DOWN_SECONDS"))
    with transaction.atomic():
        claimed = CircuitState.objects.filter(
            pk=pk,
            status__in=(CircuitStatus.OPEN, CircuitStatus.HALF_OPEN),
            retry_at__lte=now,
        ).update(status=CircuitStatus.HALF_OPEN, retry_at=now + cool_down, updated_at=now)
        if claimed:
            CircuitEvent.objects.create(
                endpoint_id=endpoint_id,
                from_status=status,
                to_status=CircuitStatus.HALF_OPEN,
                reason="cool-down over: one probe let through",
                at=now,
            )
    forget()  # claimed or lost to another process: either way the row moved
    return bool(claimed)


# --- telling -----------------------------------------------------------------------------


def record_outcomes(results: Iterable[tuple[int, str]]) -> None:
    """Count the outcomes of real calls, ``(endpoint id, outcome class)`` in the order
    they happened, in one batch (one ping's calls, or many pings' in a row).

    Call it after the calls' transaction-log rows are written (the failure ratio is
    read from them). Outcomes that were not calls (``circuit_open``, ``simulated``)
    are ignored. A streak counts the failures since an endpoint's last success, so a
    batch ending in failures either adds them to the streak or, when a success came
    first, starts it again from them.
    """
    trailing: dict[int, int] = {}  # endpoint -> failures since its last success here
    recovered: set[int] = set()  # endpoints with a success in this batch
    for endpoint_id, outcome in results:
        if outcome in NOT_A_CALL:
            continue
        if outcome in FAILURE_OUTCOMES:
            trailing[endpoint_id] = trailing.get(endpoint_id, 0) + 1
        else:
            trailing[endpoint_id] = 0
            recovered.add(endpoint_id)
    bad = {e for e, n in trailing.items() if n}
    ok = {e for e, n in trailing.items() if not n}
    known = _known()
    ok &= known.keys()  # a success changes only a circuit that is counting or probing
    if not ok and not bad:
        return
    now = timezone.now()
    if (ok | bad) <= known.keys():  # a buyer that keeps failing: no need to re-read it
        states = {
            e: CircuitState(
                pk=known[e].pk,
                endpoint_id=e,
                status=known[e].status,
                consecutive_failures=known[e].consecutive_failures,
            )
            for e in ok | bad
        }
    else:  # rows exist only for endpoints that ever failed, so this is usually empty
        states = {s.endpoint_id: s for s in CircuitState.objects.filter(endpoint_id__in=ok | bad)}
    _record_successes(ok, states, now)
    if bad:
        _record_failures({e: (trailing[e], e in recovered) for e in bad}, states, now)


def ping_outcomes(bids: Iterable[Any]) -> list[tuple[int, str]]:
    """``(endpoint id, outcome)`` of the auction's real calls (``exchange.auction.BidResult``
    with a call), for ``record_outcomes``."""
    return [
        (b.campaign.ping.id, b.answer.outcome)
        for b in bids
        if b.call is not None and b.campaign.ping is not None
    ]


def record_outcome(endpoint_id: int, outcome: str) -> None:
    """``record_outcomes`` for one call."""
    record_outcomes([(endpoint_id, outcome)])


def _record_successes(ok: set[int], states: dict[int, CircuitState], now: datetime) -> None:
    counting = [e for e in ok if e in states and states[e].status == CircuitStatus.CLOSED]
    counting = [e for e in counting if states[e].consecutive_failures]
    if counting:
        CircuitState.objects.filter(endpoint_id__in=counting, status=CircuitStatus.CLOSED).update(
            consecutive_failures=0, updated_at=now
        )
        known = _known()
        for endpoint_id in counting:
            known.pop(endpoint_id, None)  # plainly healthy again
    for endpoint_id in ok:
        state = states.get(endpoint_id)
        if state is not None and state.status == CircuitStatus.HALF_OPEN:
            _move(state, CircuitStatus.HALF_OPEN, CircuitStatus.CLOSED, "probe succeeded", now)


def _record_failures(
    bad: dict[int, tuple[int, bool]], states: dict[int, CircuitState], now: datetime
) -> None:
    """``bad``: endpoint -> (failures to count, whether a success came before them)."""
    missing = [e for e in bad if e not in states]
    if missing:
        CircuitState.objects.bulk_create(
            [CircuitState(endpoint_id=e) for e in missing], ignore_conflicts=True
        )
        states.update(
            {s.endpoint_id: s for s in CircuitState.objects.filter(endpoint_id__in=missing)}
        )
    closed = [e for e in bad if states[e].status == CircuitStatus.CLOSED]
    by_count: dict[tuple[int, bool], list[int]] = {}
    for endpoint_id in closed:
        by_count.setdefault(bad[endpoint_id], []).append(endpoint_id)
    streaks: dict[int, int] = {}
    for (failures, restart), endpoint_ids in by_count.items():
        streaks.update(_add_failures(endpoint_ids, failures, restart, now))
    for endpoint_id in bad:
        state = states[endpoint_id]
        if state.status == CircuitStatus.HALF_OPEN:
            _move(state, CircuitStatus.HALF_OPEN, CircuitStatus.OPEN, "probe failed", now)
        # An open circuit ignores stragglers: calls that were in flight when it opened.

    threshold = limit("CIRCUIT_FAILURES")
    by_ratio = _failure_ratios(
        [e for e in closed if streaks.get(e, 0) < threshold and _ratio_due(e)], now
    )
    known = _known()
    for endpoint_id, streak in streaks.items():  # counting now: a success must reset it
        known[endpoint_id] = _Known(states[endpoint_id].pk, CircuitStatus.CLOSED, streak, None)
    for endpoint_id in closed:
        streak = streaks.get(endpoint_id, 0)
        if streak >= threshold:
            reason = f"{streak} consecutive failures"
        elif endpoint_id in by_ratio:
            reason = by_ratio[endpoint_id]
        else:
            continue
        _move(states[endpoint_id], CircuitStatus.CLOSED, CircuitStatus.OPEN, reason, now)


def _add_failures(
    endpoint_ids: list[int], failures: int, restart: bool, now: datetime
) -> dict[int, int]:
    """Count ``failures`` more on these endpoints' closed circuits (or restart their streak
    at ``failures``); returns each updated circuit's streak. One ``UPDATE … RETURNING``:
    the database adds to the latest committed count, whichever process wrote it."""
    meta = CircuitState._meta
    quote = connection.ops.quote_name
    streak, endpoint, status = (
        quote(cast(Field, meta.get_field(name)).column)
        for name in ("consecutive_failures", "endpoint", "status")
    )
    updated_at = meta.get_field("updated_at")
    placeholders = ", ".join(["%s"] * len(endpoint_ids))
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {streak} = {'' if restart else streak + ' + '}%s, "
        f"{quote(updated_at.column)} = %s "
        f"WHERE {endpoint} IN ({placeholders}) AND {status} = %s "
        f"RETURNING {endpoint}, {streak}"
    )
    params = [
        failures,
        updated_at.get_db_prep_value(now, connection),
        *endpoint_ids,
        CircuitStatus.CLOSED,
    ]
    # In a transaction: SQLite keeps its write lock until the returned rows are read,
    # and the lock-file queue (exchange/sqlite) must be held until then too.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def _ratio_due(endpoint_id: int) -> bool:
    now = time.monotonic()
    if now - _ratio_read_at.get(endpoint_id, -1e9) < limit("CIRCUIT_RATIO_CHECK_SECONDS"):
        return False
    _ratio_read_at[endpoint_id] = now
    return True


def _failure_ratios(endpoint_ids: list[int], now: datetime) -> dict[int, str]:
    """The endpoints whose recent calls failed too often, with the reason to open them."""
    if not endpoint_ids or _call_counter is None:
        return {}
    window = limit("CIRCUIT_WINDOW_SECONDS")
    minimum, ratio = limit("CIRCUIT_MIN_CALLS"), limit("CIRCUIT_FAILURE_RATIO")
    endpoints = {
        (campaign_id, kind): endpoint_id
        for endpoint_id, campaign_id, kind in Endpoint.objects.filter(
            pk__in=endpoint_ids
        ).values_list("pk", "campaign_id", "kind")
    }
    # The log names the campaign and the kind of call: that pair is the endpoint.
    counts = _call_counter(
        {c for c, _ in endpoints},
        {k for _, k in endpoints},
        now - timedelta(seconds=window),
        FAILURE_OUTCOMES,
        NOT_A_CALL,
    )
    found = {}
    for campaign_id, kind, calls, failures in counts:
        endpoint_id = endpoints.get((campaign_id, kind))
        if endpoint_id and calls >= minimum and failures >= ratio * calls:
            found[endpoint_id] = f"{failures} of {calls} calls failed in the last {window} s"
    return found


def _move(
    state: CircuitState, from_status: str, to_status: str, reason: str, now: datetime
) -> bool:
    """A whitelisted move of one circuit, taken by a conditional UPDATE, with its history row."""
    fields: dict[str, Any] = {"status": to_status, "updated_at": now}
    if to_status == CircuitStatus.OPEN:
        cool_down = timedelta(seconds=limit("CIRCUIT_COOL_DOWN_SECONDS"))
        fields.update(opened_at=now, retry_at=now + cool_down)
    elif to_status == CircuitStatus.CLOSED:
        fields.update(consecutive_failures=0, opened_at=None, retry_at=None)
    with transaction.atomic():
        moved = CircuitState.objects.filter(pk=state.pk, status=from_status).update(**fields)
        if moved:
            CircuitEvent.objects.create(
                endpoint_id=state.endpoint_id,
                from_status=from_status,
                to_status=to_status,
                reason=reason[:200],
                at=now,
            )
    forget()
    if moved:
        state.status = to_status
    return bool(moved)


# --- account managers ------------------------------------------------------------------------


def close_circuits(states: Iterable[CircuitState], *, by: str = "an account manager") -> int:
    """Close circuits by hand (the buyer says it is fixed); returns how many moved."""
    now = timezone.now()
    closed = 0
    for state in states:
        if state.status != CircuitStatus.CLOSED:
            closed += _move(state, state.status, CircuitStatus.CLOSED, f"closed by {by}", now)
    return closed
