"""Finance on PostgreSQL: the period-close trigger against plain SQL, and invoice
numbers without gaps when many people issue at once (real threads, own connections)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal as D
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, connections, transaction

from buyers.models import Buyer
from leads.models import LedgerEntry
from reporting.invoices import InvoiceRefused, issue_invoice
from reporting.models import Invoice
from reporting.statements import Period, buyer_statement
from tests.factories import make_campaign
from tests.reporting.finance import NOVEMBER, OCTOBER, make_book, sell

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the trigger and row-lock tests need PostgreSQL (set DATABASE_URL)",
    ),
]
THREADS = 12


def at_once(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        try:
            barrier.wait()
            return call()
        except InvoiceRefused as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_plain_sql_on_its_own_connection_cannot_date_a_row_in_a_closed_month() -> None:
    book = make_book()
    call_command("close_period", "2026-10")
    settings = connection.settings_dict
    raw = psycopg2.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
    )
    raw.autocommit = True
    try:
        with raw.cursor() as cursor:
            with pytest.raises(psycopg2.errors.CheckViolation, match="closed period"):
                cursor.execute(
                    "INSERT INTO leads_ledgerentry (kind, buyer_id, charge, payout, margin,"
                    " reason, created_at) VALUES ('adjustment', %s, 100, 0, 100, 'psql', %s)",
                    [book.summit.pk, OCTOBER + timedelta(days=3)],
                )
            with pytest.raises(psycopg2.errors.CheckViolation):
                cursor.execute("DELETE FROM leads_ledgerentry WHERE created_at < %s", [NOVEMBER])
            with pytest.raises(psycopg2.errors.CheckViolation):
                cursor.execute(
                    "UPDATE leads_ledgerentry SET created_at = %s WHERE created_at < %s",
                    [NOVEMBER + timedelta(days=1), NOVEMBER],
                )
    finally:
        raw.close()
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            kind="adjustment", buyer=book.summit, charge=D(1), margin=D(1), created_at=OCTOBER
        )
    assert buyer_statement(book.summit, OCTOBER, NOVEMBER).net == D("90.00")


def test_concurrent_invoices_get_consecutive_numbers_without_gaps() -> None:
    book = make_book()
    buyers = [
        Buyer.objects.create(slug=f"b{i}", name=f"Buyer {i}", max_return_percent=D(100))
        for i in range(THREADS)
    ]
    for i, buyer in enumerate(buyers):
        campaign = make_campaign(book.vertical, f"b{i}-tx", buyer=buyer)
        sell(campaign, book.publisher, f"{10 + i}.00", OCTOBER + timedelta(days=i % 28))
    call_command("close_period", "2026-10")
    october = Period(date(2026, 10, 1), date(2026, 10, 31))
    # Every buyer twice at once: one of each pair is refused (the period is already
    # invoiced) after it may have taken the sequence's lock; it must give no number away.
    calls = [lambda b=b: issue_invoice(b, october) for b in buyers + buyers]

    results = at_once(calls)

    issued = [r for r in results if isinstance(r, Invoice)]
    refused = [r for r in results if isinstance(r, InvoiceRefused)]
    assert len(issued) == THREADS and len(refused) == THREADS
    numbers = sorted(Invoice.objects.values_list("sequence", flat=True))
    assert numbers == list(range(1, THREADS + 1))
    assert {i.buyer_id for i in Invoice.objects.all()} == {b.pk for b in buyers}
