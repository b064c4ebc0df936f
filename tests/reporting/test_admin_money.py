"""Adjustments and returns entered in the admin go through the ledger's services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from leads.models import LedgerEntry, Return
from reporting.statements import buyer_statement, publisher_statement
from tests.reporting.finance import finance_user, make_book, sell

pytestmark = pytest.mark.django_db


@pytest.fixture
def book() -> Any:
    return make_book()


@pytest.fixture
def fin(client: Client) -> Client:
    client.force_login(finance_user())
    return client


def test_finance_records_a_buyer_credit_that_shows_on_its_statement(book: Any, fin: Client) -> None:
    form = fin.get("/admin/leads/ledgerentry/add/")
    response = fin.post(
        "/admin/leads/ledgerentry/add/",
        {"party": "buyer", "buyer": book.summit.pk, "amount": "-12.50", "reason": "late leads"},
    )
    now = timezone.now()

    assert form.status_code == 200 and "Record an adjustment" in form.content.decode()
    assert response.status_code == 302
    entry = LedgerEntry.objects.get(kind="adjustment")
    assert (entry.charge, entry.created_by.username, entry.reason) == (
        D("-12.50"),
        "fiona",
        "late leads",
    )
    month = buyer_statement(book.summit, now - timedelta(days=1), now + timedelta(days=1))
    assert month.adjustments_amount == D("-12.50")


def test_a_publisher_bonus_needs_its_publisher_and_a_reason(book: Any, fin: Client) -> None:
    missing = fin.post(
        "/admin/leads/ledgerentry/add/", {"party": "publisher", "amount": "3", "reason": " "}
    )
    ok = fin.post(
        "/admin/leads/ledgerentry/add/",
        {"party": "publisher", "publisher": book.publisher.pk, "amount": "3", "reason": "bonus"},
    )
    now = timezone.now()

    assert "Choose the publisher" in missing.content.decode()
    assert ok.status_code == 302
    assert publisher_statement(
        book.publisher, now - timedelta(days=1), now + timedelta(days=1)
    ).net == D("3")


def test_finance_records_a_return_in_the_admin(book: Any, fin: Client) -> None:
    lead = sell(book.summit_tx, book.publisher, "30.00", timezone.now() - timedelta(days=1))
    response = fin.post(
        "/admin/leads/return/add/", {"lead": str(lead.pk), "reason": "duplicate", "note": "dupe"}
    )
    twice = fin.post("/admin/leads/return/add/", {"lead": str(lead.pk), "reason": "duplicate"})

    assert response.status_code == 302
    assert Return.objects.get(lead=lead).created_by.username == "fiona"
    assert LedgerEntry.objects.get(lead=lead, kind="return").charge == D("-30")
    assert "already been returned" in twice.content.decode()


def test_a_return_outside_the_window_is_refused_as_through_the_api(book: Any, fin: Client) -> None:
    response = fin.post(
        "/admin/leads/return/add/", {"lead": str(book.leads[0].pk), "reason": "duplicate"}
    )

    assert response.status_code == 200 and "return window" in response.content.decode()


def test_without_the_add_permissions_there_is_no_form(book: Any, client: Client) -> None:
    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_ledgerentry", "view_return"])
    )
    client.force_login(viewer)

    assert client.get("/admin/leads/ledgerentry/add/").status_code == 403
    assert (
        client.post(
            "/admin/leads/return/add/", {"lead": str(book.leads[0].pk), "reason": "other"}
        ).status_code
        == 403
    )
