"""Finance's pages in a real browser, signed in as a finance user: they render, their
numbers are the command's, and the print view keeps only the document."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from leads.models import ClosedPeriod
from tests.reporting.finance import finance_user, make_book

from .conftest import admin_login, assert_clean

pytestmark = pytest.mark.django_db(transaction=True)
OCT = "from=2026-10-01&to=2026-10-31"


def command_net(party: str, slug: str) -> str:
    out = io.StringIO()
    call_command("statement", party, slug, "--from", "2026-10-01", "--to", "2026-10-31", stdout=out)
    match = re.search(r"net\s+(-?\d+\.\d\d)", out.getvalue())
    assert match, out.getvalue()
    return match[1]


@pytest.fixture
def signed_in(page: Any) -> Iterator[Any]:
    make_book()
    finance_user()
    admin_login(page, "fiona", "pw-finance-1")
    page.wait_for_selector("#finance-reports")
    yield page
    # SQLite's flush deletes row by row, and the period trigger refuses to delete a
    # closed month's rows: reopen first (PostgreSQL truncates, triggers unfired).
    ClosedPeriod.objects.all().delete()


def test_statements_render_with_the_commands_numbers_and_print_clean(signed_in: Any) -> None:
    page = signed_in
    page.click("#finance-reports a[href='/reports/finance/']")
    page.wait_for_selector("text=Budget Leads")
    for party, slug, expected in (
        ("buyer", "summit", "90.00"),
        ("buyer", "budget", "8.00"),
        ("publisher", "acme", "78.40"),
    ):
        page.goto(f"/reports/statements/{party}/{slug}/?{OCT}")
        net = page.inner_text("[data-field=net]")
        assert net == expected == command_net(party, slug)
        assert page.locator("#statement-lines tbody tr").count() >= 3

    page.evaluate("window.print = () => { window.printed = true; }")
    page.click("[data-print]")
    assert page.evaluate("window.printed") is True
    page.emulate_media(media="print")
    assert not page.is_visible("#header")
    assert not page.is_visible(".fin-actions")
    assert page.is_visible("#statement-totals")
    assert_clean(page)


def test_the_reconciliation_and_an_invoice_render_and_print(signed_in: Any) -> None:
    page = signed_in
    page.goto("/reports/reconciliation/?month=2026-10")
    assert page.inner_text("#rec-status") == "Balanced, no exceptions."
    assert page.inner_text("[data-field=margin]") == "19.60"

    call_command("close_period", "2026-10", stdout=io.StringIO())
    page.goto(f"/reports/statements/buyer/summit/?{OCT}")
    page.click("input[value='Issue invoice']")
    page.wait_for_selector("#invoice-number")
    assert re.fullmatch(r"SY-\d{4}-0001", page.inner_text("#invoice-number"))
    assert page.inner_text("#invoice-totals [data-field=net]") == "90.00 USD"
    page.emulate_media(media="print")
    assert not page.is_visible("#header") and not page.is_visible(".breadcrumbs")
    assert page.is_visible("#invoice-lines")
    assert_clean(page)
