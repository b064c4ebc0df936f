"""Invoices: issued for closed periods, numbered without gaps, frozen, voided by credit."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal as D
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from leads.returns import record_return
from reporting.invoices import InvoiceRefused, issue_invoice, void_invoice
from reporting.models import Invoice
from reporting.statements import Period
from tests.reporting.finance import NOVEMBER, finance_user, make_book

pytestmark = pytest.mark.django_db
OCTOBER_DAYS = Period(date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture
def book() -> Any:
    book = make_book()
    call_command("close_period", "2026-10", stdout=io.StringIO())
    return book


@pytest.fixture
def fin(client: Client) -> Client:
    client.force_login(finance_user())
    return client


def year() -> int:
    return timezone.now().year


def test_an_invoice_copies_the_statement_of_a_closed_period(book: Any) -> None:
    invoice = issue_invoice(book.budget, OCTOBER_DAYS)

    assert invoice.number == f"SY-{year()}-0001"
    assert (invoice.sales_count, invoice.gross, invoice.returns, invoice.net) == (
        3,
        D("12.00"),
        D("-4.00"),
        D("8.00"),
    )
    assert [line.amount for line in invoice.lines.all()] == [D(4), D(4), D(4), D(-4)]


def test_an_open_period_cannot_be_invoiced(book: Any) -> None:
    with pytest.raises(InvoiceRefused, match="Close 2026-11"):
        issue_invoice(book.summit, Period(date(2026, 10, 1), date(2026, 11, 5)))


def test_numbers_follow_each_other_and_a_refused_issue_takes_none(book: Any) -> None:
    first = issue_invoice(book.summit, OCTOBER_DAYS)
    with pytest.raises(InvoiceRefused, match="already covers"):
        issue_invoice(book.summit, Period(date(2026, 10, 15), date(2026, 10, 20)))
    second = issue_invoice(book.budget, OCTOBER_DAYS)

    assert [first.sequence, second.sequence] == [1, 2]
    assert second.number == f"SY-{year()}-0002"


def test_an_issued_invoice_is_unchanged_after_later_returns(book: Any) -> None:
    invoice = issue_invoice(book.summit, OCTOBER_DAYS)
    record_return(book.leads[0], buyer=book.summit, reason="duplicate", now=NOVEMBER)

    again = Invoice.objects.get(pk=invoice.pk)
    assert (again.net, again.returns_count, again.lines.count()) == (D("90.00"), 0, 3)


def test_voiding_issues_a_credit_note_and_deletes_nothing(book: Any) -> None:
    invoice = issue_invoice(book.summit, OCTOBER_DAYS)
    credit = void_invoice(invoice)
    reissued = issue_invoice(book.summit, OCTOBER_DAYS)

    assert credit.number == f"CN-{year()}-0001"
    assert (credit.net, credit.credit_for) == (D("-90.00"), invoice)
    assert Invoice.objects.get(pk=invoice.pk).is_voided
    assert reissued.number == f"SY-{year()}-0002"
    with pytest.raises(InvoiceRefused, match="already voided"):
        void_invoice(invoice)


def test_finance_issues_prints_and_voids_an_invoice_from_the_pages(book: Any, fin: Client) -> None:
    statement = fin.get("/reports/statements/buyer/summit/?from=2026-10-01&to=2026-10-31")
    issued = fin.post(
        "/reports/invoices/issue/", {"buyer": "summit", "from": "2026-10-01", "to": "2026-10-31"}
    )
    number = f"SY-{year()}-0001"
    page = fin.get(f"/reports/invoices/{number}/").content.decode()
    voided = fin.post(f"/reports/invoices/{number}/void/")

    assert "Issue invoice" in statement.content.decode()
    assert issued.status_code == 302 and issued["Location"] == f"/reports/invoices/{number}/"
    assert "90.00 USD" in page and "Summit Insurance" in page
    assert "reporting/finance.css" in page and "data-print" in page
    assert voided["Location"] == f"/reports/invoices/CN-{year()}-0001/"
    assert number in fin.get("/reports/invoices/").content.decode()


def test_an_open_statement_offers_no_invoice(book: Any, fin: Client) -> None:
    page = fin.get("/reports/statements/buyer/summit/?from=2026-11-01&to=2026-11-30")
    refused = fin.post(
        "/reports/invoices/issue/",
        {"buyer": "summit", "from": "2026-11-01", "to": "2026-11-30"},
        follow=True,
    )

    assert "Issue invoice" not in page.content.decode()
    assert "invoices are issued for closed periods" in refused.content.decode()
    assert not Invoice.objects.exists()


def test_issuing_needs_the_invoice_permission(book: Any, client: Client) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    reader = get_user_model().objects.create_user("reader", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_statements"))
    client.force_login(reader)
    response = client.post(
        "/reports/invoices/issue/", {"buyer": "summit", "from": "2026-10-01", "to": "2026-10-31"}
    )

    assert response.status_code == 403
    assert not Invoice.objects.exists()


def test_the_admin_lists_invoices_read_only_and_voids_them_by_credit_note(
    book: Any, fin: Client
) -> None:
    invoice = issue_invoice(book.summit, OCTOBER_DAYS)
    listing = fin.get("/admin/reporting/invoice/")
    voided = fin.post(
        "/admin/reporting/invoice/",
        {"action": "void_selected", "_selected_action": [invoice.pk]},
        follow=True,
    )

    assert listing.status_code == 200 and invoice.number in listing.content.decode()
    assert f"{invoice.number} voided by CN-{year()}-0001" in voided.content.decode()
    assert Invoice.objects.get(pk=invoice.pk).is_voided
    assert fin.get(f"/admin/reporting/invoice/{invoice.pk}/delete/").status_code == 403


def test_a_buyer_owing_nothing_gets_no_invoice_and_no_number_is_used(
    book: Any, fin: Client
) -> None:
    from buyers.models import Buyer

    Buyer.objects.create(slug="quiet", name="Quiet Buyer")

    refused = fin.post(
        "/reports/invoices/issue/",
        {"buyer": "quiet", "from": "2026-10-01", "to": "2026-10-31"},
        follow=True,
    )
    issued = issue_invoice(book.summit, OCTOBER_DAYS)

    assert "Nothing to invoice: Quiet Buyer&#x27;s net from 2026-10-01 to 2026-10-31 is 0.00." in (
        refused.content.decode()
    )
    assert not Invoice.objects.filter(buyer__slug="quiet").exists()
    assert issued.number == f"SY-{year()}-0001"  # the refusal took no number


def test_a_credit_note_copies_every_line_negated(book: Any) -> None:
    invoice = issue_invoice(book.budget, OCTOBER_DAYS)

    credit = void_invoice(invoice)

    pairs = zip(invoice.lines.order_by("pk"), credit.lines.order_by("pk"), strict=True)
    assert [(c.entry_id, c.lead_id, c.amount) for _, c in pairs] == [
        (i.entry_id, i.lead_id, -i.amount) for i in invoice.lines.order_by("pk")
    ]
