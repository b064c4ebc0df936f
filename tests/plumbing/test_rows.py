"""``plumbing.rows``: the ping's lead and bids in the fewest statements, read back
exactly as the ORM would have written them, all or none; or sent ahead and committed
or dropped later (``PendingInsert``)."""

from __future__ import annotations

import uuid
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections
from django.utils import timezone

from leads.models import Bid, Lead
from plumbing.rows import PendingInsert, insert_together
from tests.factories import make_campaign, make_publisher, make_vertical


@pytest.fixture
def parties() -> tuple[Any, Any, Any]:
    vertical = make_vertical()
    publisher, _ = make_publisher()
    return vertical, publisher, make_campaign(vertical, "summit")


def lead_and_bids(parties: tuple[Any, Any, Any], bids: int = 2) -> tuple[Lead, list[Bid]]:
    vertical, publisher, campaign = parties
    now = timezone.now()
    lead = Lead(
        id=uuid.uuid4(),
        vertical_id=vertical.id,
        publisher_id=publisher.id,
        status="pinged",
        data={"zip": "60601", "age": 41},
        reasons=["no_bids"],
        trace=[{"campaign": campaign.id, "result": "bid", "price": "12.50"}],
        offer_price=D("12.5000"),
        offer_expires_at=now,
        created_at=now,
    )
    rows = [
        Bid(lead=lead, campaign_id=campaign.id, outcome="bid", price=D("12.50") + i, rank=i + 1,
            latency_ms=20 + i, reason="", created_at=now, expires_at=now)
        for i in range(bids)
    ]  # fmt: skip
    return lead, rows


def same_lead_again(parties: tuple[Any, Any, Any], lead: Lead) -> tuple[Lead, list[Bid]]:
    """New rows for a lead with ``lead``'s primary key: their insert must fail."""
    again, bids = lead_and_bids(parties)
    again.id = lead.id
    for bid in bids:
        bid.lead = again
    return again, bids


@pytest.mark.django_db
def test_rows_read_back_as_the_orm_writes_them(parties: Any) -> None:
    lead, bids = lead_and_bids(parties)

    insert_together([lead], bids)

    stored = Lead.objects.get(pk=lead.pk)
    assert stored.data == {"zip": "60601", "age": 41}
    assert stored.trace == lead.trace and stored.reasons == ["no_bids"]
    assert stored.offer_price == D("12.5000") and stored.pii == {}
    assert stored.created_at == lead.created_at and stored.updated_at is not None
    assert [(b.rank, b.price, b.latency_ms) for b in stored.bids.order_by("rank")] == [
        (1, D("12.5000"), 20),
        (2, D("13.5000"), 21),
    ]


@pytest.mark.django_db
def test_a_failing_group_writes_nothing(parties: Any) -> None:
    lead, _ = lead_and_bids(parties)
    insert_together([lead])
    again, more_bids = same_lead_again(parties, lead)

    with pytest.raises(IntegrityError):
        insert_together([again], more_bids)

    assert Bid.objects.count() == 0


def bids_seen_by_another_session(lead: Lead) -> int:
    """On PostgreSQL, what a second connection sees (an in-memory SQLite database is
    private to its connection, and a test's own transaction to the test: there, this
    connection's count)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return Bid.objects.filter(lead_id=lead.id).count()
    other: Any = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM leads_bid WHERE lead_id = %s", [lead.id])
            return cursor.fetchone()[0]
    finally:
        other.close()


only_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the asynchronous commit is PostgreSQL's"
)


@only_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_lazy_commit_is_committed_and_a_failure_leaves_the_connection_usable(
    parties: Any,
) -> None:
    lead, bids = lead_and_bids(parties)

    insert_together([lead], bids, durable=False)

    assert not connection.in_atomic_block
    assert bids_seen_by_another_session(lead) == 2

    again, more_bids = same_lead_again(parties, lead)
    with pytest.raises(IntegrityError):
        insert_together([again], more_bids, durable=False)

    assert Bid.objects.count() == 2  # nothing of the failed insert; the connection works
    with connection.cursor() as cursor:
        cursor.execute("SELECT now() = statement_timestamp()")  # not in a stale transaction
        assert cursor.fetchone()[0] is True


@pytest.mark.django_db(transaction=True)
def test_rows_written_ahead_are_committed_as_the_orm_writes_them(parties: Any) -> None:
    lead, bids = lead_and_bids(parties)

    with PendingInsert([lead], bids, durable=False) as pending:
        if connection.vendor == "postgresql":  # sent, in a transaction not yet committed
            assert bids_seen_by_another_session(lead) == 0
        pending.commit()

    assert bids_seen_by_another_session(lead) == 2
    stored = Lead.objects.get(pk=lead.pk)
    assert stored.data == {"zip": "60601", "age": 41} and stored.offer_price == D("12.5000")
    assert not lead._state.adding
    assert not connection.in_atomic_block


def take_back_rows_written_ahead(parties: Any) -> None:
    lead, bids = lead_and_bids(parties)
    kept, kept_bids = lead_and_bids(parties)
    insert_together([kept], kept_bids)

    with pytest.raises(RuntimeError), PendingInsert([lead], bids):
        raise RuntimeError("the request failed before the deadline")
    assert Lead.objects.filter(pk=lead.pk).count() == 0
    with PendingInsert([lead], bids) as pending:
        pending.discard()
        pending.commit()  # after a discard there is nothing left to commit

    assert Lead.objects.filter(pk=lead.pk).count() == 0
    assert list(Bid.objects.values_list("lead_id", flat=True)) == [kept.pk, kept.pk]
    again, more_bids = lead_and_bids(parties)
    insert_together([again], more_bids)  # the connection is not left in a transaction
    assert bids_seen_by_another_session(again) == 2


@pytest.mark.django_db(transaction=True)
def test_rows_written_ahead_and_discarded_leave_nothing(parties: Any) -> None:
    take_back_rows_written_ahead(parties)


@pytest.mark.django_db
def test_rows_written_ahead_inside_a_transaction_and_discarded_leave_nothing(
    parties: Any,
) -> None:
    take_back_rows_written_ahead(parties)


@only_postgresql
@pytest.mark.django_db(transaction=True)
def test_rows_that_cannot_be_written_ahead_raise_at_once_and_leave_no_transaction(
    parties: Any,
) -> None:
    lead, bids = lead_and_bids(parties)
    insert_together([lead], bids)
    # Refused when sent, not at the commit.
    again, more_bids = same_lead_again(parties, lead)

    with pytest.raises(IntegrityError):
        PendingInsert([again], more_bids)

    with connection.cursor() as cursor:
        cursor.execute("SELECT now() = statement_timestamp()")  # not in a stale transaction
        assert cursor.fetchone()[0] is True
