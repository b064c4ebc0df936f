"""Closing a month: nothing is dated in it afterwards, whatever writes the ledger."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client

from leads.ledger import record_adjustment
from leads.models import ClosedPeriod, LedgerEntry
from leads.periods import PeriodError, close_period
from leads.returns import record_return
from reporting.statements import buyer_statement, publisher_statement
from tests.reporting.finance import NOVEMBER, OCTOBER, finance_user, make_book, sell

pytestmark = pytest.mark.django_db


@pytest.fixture
def book() -> Any:
    return make_book()


def close_october() -> None:
    call_command("close_period", "2026-10", stdout=io.StringIO())


def test_the_command_closes_a_month_that_is_over_once(book: Any) -> None:
    out = io.StringIO()
    call_command("close_period", "2026-10", stdout=out)

    assert "Closed 2026-10" in out.getvalue()
    assert ClosedPeriod.objects.get().starts_at == OCTOBER
    with pytest.raises(CommandError, match="already closed"):
        call_command("close_period", "2026-10")
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("close_period", "October")


def test_a_month_that_is_not_over_cannot_be_closed(db: Any) -> None:
    with pytest.raises(PeriodError, match="not over"):
        close_period(OCTOBER.date(), now=OCTOBER + timedelta(days=30))


def test_a_return_of_a_lead_sold_in_a_closed_month_lands_in_the_open_month(book: Any) -> None:
    close_october()
    lead = book.leads[0]
    record_return(lead, buyer=book.summit, reason="duplicate", now=NOVEMBER + timedelta(days=2))

    reversal = LedgerEntry.objects.get(lead=lead, kind="return")
    assert reversal.created_at == NOVEMBER + timedelta(days=2)
    assert buyer_statement(book.summit, OCTOBER, NOVEMBER).net == D("90.00")
    assert buyer_statement(book.summit, NOVEMBER, NOVEMBER + timedelta(days=30)).net == D("-30")


def test_a_return_or_adjustment_dated_inside_a_closed_month_is_booked_at_its_end(
    book: Any,
) -> None:
    close_october()
    user = finance_user()
    record_return(
        book.leads[1], buyer=book.summit, reason="duplicate", now=OCTOBER + timedelta(days=20)
    )
    credit = record_adjustment(
        buyer=book.summit,
        charge=D("-5"),
        reason="goodwill for October",
        user=user,
        at=OCTOBER + timedelta(days=15),
    )

    assert LedgerEntry.objects.get(lead=book.leads[1], kind="return").created_at == NOVEMBER
    assert credit.created_at == NOVEMBER
    assert buyer_statement(book.summit, OCTOBER, NOVEMBER).net == D("90.00")


def test_a_closed_months_statement_never_changes(book: Any) -> None:
    before = [
        buyer_statement(book.summit, OCTOBER, NOVEMBER),
        buyer_statement(book.budget, OCTOBER, NOVEMBER),
        publisher_statement(book.publisher, OCTOBER, NOVEMBER),
    ]
    close_october()
    sell(book.summit_tx, book.publisher, "30.00", OCTOBER + timedelta(days=12))  # late sale
    record_return(book.leads[2], buyer=book.summit, reason="other", now=NOVEMBER)
    record_adjustment(
        publisher=book.publisher, payout=D("3"), reason="bonus", user=finance_user(), at=OCTOBER
    )

    after = [
        buyer_statement(book.summit, OCTOBER, NOVEMBER),
        buyer_statement(book.budget, OCTOBER, NOVEMBER),
        publisher_statement(book.publisher, OCTOBER, NOVEMBER),
    ]
    assert after == before
    assert buyer_statement(book.summit, NOVEMBER, NOVEMBER + timedelta(days=30)).sales_count == 1


def test_the_orm_and_sql_cannot_write_a_row_dated_in_a_closed_month(book: Any) -> None:
    close_october()
    inside = OCTOBER + timedelta(days=9)
    row = LedgerEntry.objects.filter(created_at__lt=NOVEMBER).first()
    assert row is not None

    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            kind="adjustment", buyer=book.summit, charge=D("1"), margin=D("1"), created_at=inside
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.filter(pk=row.pk).update(charge=D("31"), margin=row.margin + 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.filter(pk=row.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leads_ledgerentry (kind, charge, payout, margin, reason, created_at)"
            " VALUES ('adjustment', 1, 0, 1, 'sneaky', %s)",
            [inside],
        )
    assert LedgerEntry.objects.filter(reason="sneaky").count() == 0


def test_rows_of_open_months_still_move_freely(book: Any) -> None:
    close_october()
    entry = LedgerEntry.objects.create(
        kind="adjustment",
        buyer=book.summit,
        charge=D("1"),
        margin=D("1"),
        created_at=datetime(2026, 11, 3, tzinfo=UTC),
    )
    LedgerEntry.objects.filter(pk=entry.pk).update(reason="fixed")

    assert LedgerEntry.objects.get(pk=entry.pk).reason == "fixed"


def test_finance_closes_a_month_in_the_admin(book: Any, client: Client) -> None:
    client.force_login(finance_user())
    form = client.get("/admin/leads/closedperiod/add/")
    response = client.post("/admin/leads/closedperiod/add/", {"month": "2026-10"})
    again = client.post("/admin/leads/closedperiod/add/", {"month": "2026-10"})

    assert form.status_code == 200 and "Close a month" in form.content.decode()
    assert response.status_code == 302
    assert ClosedPeriod.objects.get().closed_by.username == "fiona"
    assert "already closed" in again.content.decode()


def test_only_finance_may_close_a_month_in_the_admin(book: Any, client: Client) -> None:
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("am", is_staff=True))

    assert client.post("/admin/leads/closedperiod/add/", {"month": "2026-10"}).status_code == 403
    assert not ClosedPeriod.objects.exists()
