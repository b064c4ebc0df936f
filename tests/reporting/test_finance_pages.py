"""Statements and reconciliation through the pages (a real log-in) and the command."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from leads.models import Lead, LedgerEntry
from tests.reporting.finance import OCTOBER, finance_user, make_book

pytestmark = pytest.mark.django_db
OCT = "from=2026-10-01&to=2026-10-31"


@pytest.fixture
def book() -> Any:
    return make_book()


@pytest.fixture
def fin(client: Client) -> Client:
    finance_user()
    response = client.post(
        "/admin/login/?next=/reports/finance/",
        {"username": "fiona", "password": "pw-finance-1", "next": "/reports/finance/"},
    )
    assert response.status_code == 302
    return client


def totals(html: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'data-field="(\w+)">([^<]*)<', html))


def csv_of(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def command(*args: str) -> str:
    out = io.StringIO()
    call_command("statement", *args, stdout=out)
    return out.getvalue()


def test_statements_show_each_partys_net_to_the_cent(book: Any, fin: Client) -> None:
    summit = fin.get(f"/reports/statements/buyer/summit/?{OCT}")
    budget = fin.get(f"/reports/statements/buyer/budget/?{OCT}")
    acme = fin.get(f"/reports/statements/publisher/acme/?{OCT}")

    assert totals(summit.content.decode()) == {
        "leads_sold": "3",
        "gross": "90.00",
        "returns": "0.00",
        "adjustments": "0.00",
        "net": "90.00",
    }
    assert totals(budget.content.decode())["returns"] == "-4.00"
    assert totals(budget.content.decode())["net"] == "8.00"
    assert totals(acme.content.decode())["net"] == "78.40"
    assert "exchange's time zone, UTC" in acme.content.decode()


def test_the_csv_has_a_row_per_ledger_entry_and_a_total_equal_to_the_page(
    book: Any, fin: Client
) -> None:
    response = fin.get(f"/reports/statements/buyer/budget/?{OCT}&format=csv")
    rows = csv_of(response)

    assert response["Content-Type"].startswith("text/csv")
    assert rows[0] == ["date", "lead_id", "kind", "amount", "remnant"]
    assert [r[2:] for r in rows[1:-1]] == [
        ["sale", "4.00", ""],
        ["sale", "4.00", ""],
        ["sale", "4.00", ""],
        ["return", "-4.00", ""],
    ]
    assert rows[4][1] == str(book.returned.pk)
    assert rows[-1] == ["total", "", "", "8.00", ""]
    publisher_rows = csv_of(fin.get(f"/reports/statements/publisher/acme/?{OCT}&format=csv"))
    assert publisher_rows[-1] == ["total", "", "", "78.40", ""]


def test_the_command_prints_the_same_statement_as_the_page(book: Any) -> None:
    summit = command("buyer", "summit", "--from", "2026-10-01", "--to", "2026-10-31")
    acme = command("publisher", "acme", "--from", "2026-10-01", "--to", "2026-10-31")
    rows = list(
        csv.reader(
            io.StringIO(
                command("buyer", "budget", "--from", "2026-10-01", "--to", "2026-10-31", "--csv")
            )
        )
    )

    assert "net" in summit and summit.rstrip().endswith("90.00")
    assert "returns (1)" in acme and acme.rstrip().endswith("78.40")
    assert rows[-1] == ["total", "", "", "8.00", ""]


def test_a_period_outside_the_sales_is_empty_and_bad_dates_are_refused(
    book: Any, fin: Client
) -> None:
    september = fin.get("/reports/statements/buyer/summit/?from=2026-09-01&to=2026-09-30")
    backwards = fin.get("/reports/statements/buyer/summit/?from=2026-10-31&to=2026-10-01")
    nonsense = fin.get("/reports/statements/buyer/summit/?from=yesterday")

    assert totals(september.content.decode())["net"] == "0.00"
    assert backwards.status_code == 400 and "before" in backwards.content.decode()
    assert nonsense.status_code == 400 and "YYYY-MM-DD" in nonsense.content.decode()
    assert fin.get("/reports/statements/buyer/nobody/").status_code == 404
    assert fin.get("/reports/statements/vendor/summit/").status_code == 404


def test_reports_need_a_login_and_the_statements_permission(book: Any, client: Client) -> None:
    anonymous = client.get(f"/reports/statements/buyer/summit/?{OCT}")
    get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    client.login(username="clerk", password="pw")

    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    assert client.get(f"/reports/statements/buyer/summit/?{OCT}").status_code == 403
    assert client.get("/reports/reconciliation/?month=2026-10").status_code == 403
    assert client.get("/reports/finance/").status_code == 403


def test_the_finance_page_lists_every_party(book: Any, fin: Client) -> None:
    page = fin.get("/reports/finance/").content.decode()
    admin_index = fin.get("/admin/").content.decode()

    assert "Summit Insurance" in page and "Budget Leads" in page and "Acme" in page
    assert "/reports/statements/publisher/acme/" in page
    assert 'href="/reports/finance/"' in admin_index


def test_the_reconciliation_balances_and_lists_each_party(book: Any, fin: Client) -> None:
    page = fin.get("/reports/reconciliation/?month=2026-10").content.decode()

    assert totals(page) == {"charges": "98.00", "payouts": "78.40", "margin": "19.60"}
    assert "Balanced, no exceptions." in page
    assert page.count("✓ agrees") == 3
    assert "Summit Insurance" in page and "Budget Leads" in page


def test_the_reconciliation_lists_a_sold_lead_without_its_sale_entry(
    book: Any, fin: Client
) -> None:
    unbooked = Lead.objects.create(
        vertical=book.vertical,
        publisher=book.publisher,
        status="sold",
        sold_campaign=book.summit_tx,
        price="12.00",
        payout="9.60",
        sold_at=book.leads[0].sold_at,
    )
    page = fin.get("/reports/reconciliation/?month=2026-10").content.decode()

    assert "sold_without_sale_entry" in page and str(unbooked.pk) in page
    assert "Balanced, with exceptions to review." in page


def test_the_reconciliation_lists_a_return_entry_that_reverses_nothing(
    book: Any, fin: Client
) -> None:
    LedgerEntry.objects.create(
        kind="return",
        buyer=book.summit,
        charge="-5",
        payout="0",
        margin="-5",
        created_at=book.leads[0].sold_at,
    )
    page = fin.get("/reports/reconciliation/?month=2026-10").content.decode()

    assert "reversal_without_sale" in page


def test_a_malformed_month_is_a_400_with_the_format(fin: Client) -> None:
    response = fin.get("/reports/reconciliation/?month=october")

    assert response.status_code == 400 and "YYYY-MM" in response.content.decode()


def test_the_reconciliation_lists_a_monthly_cap_counter_that_disagrees_with_sales(
    book: Any, fin: Client
) -> None:
    from buyers.models import Cap, CapCounter

    agreeing = Cap.objects.create(campaign=book.summit_tx, period="month", max_leads=100)
    CapCounter.objects.create(cap=agreeing, window_start=OCTOBER, leads=3)
    drifting = Cap.objects.create(campaign=book.budget_tx, period="month", max_leads=100)
    CapCounter.objects.create(cap=drifting, window_start=OCTOBER, leads=5)
    page = fin.get("/reports/reconciliation/?month=2026-10").content.decode()

    assert "counter_disagrees_with_sales" in page
    assert f"cap {drifting.pk} (budget-tx)" in page
    assert "monthly counter says 5 leads, the ledger 3 sales" in page
    assert f"cap {agreeing.pk} (summit-tx)" not in page


def test_the_reconciliation_names_its_exceptions_for_people_and_shows_cents(
    book: Any, fin: Client
) -> None:
    Lead.objects.create(
        vertical=book.vertical,
        publisher=book.publisher,
        status="sold",
        sold_campaign=book.summit_tx,
        price="12.00",
        payout="9.60",
        sold_at=book.leads[0].sold_at,
    )
    page = fin.get("/reports/reconciliation/?month=2026-10").content.decode()

    assert "Sold lead with no sale in the ledger" in page
    assert "Return with no reversing ledger entry" in page  # each kind, also at 0
    assert "for 12.00, no sale in the ledger" in page and "12.0000" not in page
