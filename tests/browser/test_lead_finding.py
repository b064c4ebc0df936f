"""Finding a lead in a real browser, as an account manager would: search the lead list by
the phone number the consumer gives, open the lead, read its ledger entries and why it
sold where it did; and neither page is wider than a 1366 px screen."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.roles import ACCOUNT_MANAGERS
from tests.leads.market import PASSWORD, make_market, sell_lead, staff

from .conftest import admin_login, assert_clean

pytestmark = pytest.mark.django_db(transaction=True)

OVERFLOWS = """() => {
  const root = document.documentElement, width = root.clientWidth, wide = [];
  if (root.scrollWidth > width) wide.push('page ' + root.scrollWidth);
  for (const table of document.querySelectorAll('#content table')) {
    // A table wider than its box scrolls inside it (the changelist's) or spills out.
    const box = Math.min(width, table.parentElement.getBoundingClientRect().right);
    const right = table.getBoundingClientRect().right;
    const name = table.id || table.className || 'table';
    if (right > box + 0.5) wide.push(name + ' ' + Math.round(right) + ' > ' + Math.round(box));
  }
  return wide;
}"""


def test_an_account_manager_finds_a_lead_by_phone_and_reads_its_ledger(
    page: Any, api: Any, buyer_server: Any, django_user_model: Any
) -> None:
    market = make_market(buyer_server)
    lead = sell_lead(api, market, "(214) 555-0143", "ann.lee@example.com", sub_id="spring-42")
    # Others around it, with long names and sub_ids, to fill the list's columns.
    for n in range(4):
        sell_lead(
            api,
            market,
            f"(214) 555-{200 + n:04d}",
            f"maximilian.alexander.{n}@example-insurance-quotes.com",
            sub_id=f"campaign-2026-autumn-landing-page-{n:03d}",
        )
    staff(django_user_model, "amy", ACCOUNT_MANAGERS)
    admin_login(page, "amy", PASSWORD)
    page.wait_for_load_state("networkidle")

    page.goto("/admin/leads/lead/")
    page.wait_for_load_state("networkidle")
    assert page.evaluate(OVERFLOWS) == []
    page.fill("#searchbar", "214.555.0143")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state("networkidle")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    link = rows.first.locator("a.short-id")
    assert link.inner_text() == str(lead.pk)[:8]
    assert link.get_attribute("title") == str(lead.pk)
    # The short id stays on one line.
    assert link.evaluate("el => el.getClientRects().length") == 1
    assert page.evaluate(OVERFLOWS) == []

    link.click()
    page.wait_for_load_state("networkidle")
    ledger = page.locator(".inline-group", has_text="Ledger entries")
    assert "sale" in ledger.inner_text() and "$6.58" in ledger.inner_text()
    story = page.locator("ul.waterfall").inner_text()
    assert "rejected the post (not in our area)" in story
    assert "Sold $3.48 below the best bid" in story
    assert page.evaluate(OVERFLOWS) == []
    for listing in ("/admin/leads/delivery/", "/admin/leads/ledgerentry/"):
        page.goto(listing)
        page.wait_for_load_state("networkidle")
        assert page.evaluate(OVERFLOWS) == [], listing
    assert_clean(page)


def test_every_list_an_account_manager_uses_fits_1366_px_with_its_figures(
    page: Any, api: Any, buyer_server: Any, django_user_model: Any
) -> None:
    from reporting import rollups

    market = make_market(buyer_server)
    for n in range(3):
        sell_lead(
            api,
            market,
            f"(214) 555-{300 + n:04d}",
            f"maximilian.alexander.{n}@example-insurance-quotes.com",
            sub_id=f"campaign-2026-autumn-landing-page-{n:03d}",
        )
    rollups.refresh()
    staff(django_user_model, "amy", ACCOUNT_MANAGERS)
    admin_login(page, "amy", PASSWORD)
    page.wait_for_load_state("networkidle")
    for listing in (
        "/admin/buyers/buyer/",
        "/admin/buyers/campaign/",
        "/admin/buyers/endpoint/",
        "/admin/leads/lead/",
        "/admin/leads/delivery/",
        "/admin/leads/ledgerentry/",
        "/admin/exchange/publisher/",
        "/admin/exchange/apikey/",
    ):
        page.goto(listing)
        page.wait_for_load_state("networkidle")
        assert page.locator("#result_list tbody tr").count() > 0, listing
        assert page.evaluate(OVERFLOWS) == [], listing
        if listing in ("/admin/buyers/campaign/", "/admin/buyers/endpoint/"):
            # The operations figures beside each row: acceptance, timeouts, p95.
            budget = page.locator("#result_list tbody tr", has_text="budget").first
            figures = budget.locator(".figures").inner_text()
            assert "100.0% accepted" in figures and "0.0% timeouts" in figures, figures
            assert "p95 ≤" in figures, figures
    # The buyer's page and its campaign's page (settings, endpoints, caps, figures) too.
    from buyers.models import Campaign

    campaign = Campaign.objects.get(slug="budget")
    for record in (
        f"/admin/buyers/buyer/{campaign.buyer_id}/change/",
        f"/admin/buyers/campaign/{campaign.pk}/change/",
    ):
        page.goto(record)
        page.wait_for_load_state("networkidle")
        assert page.evaluate(OVERFLOWS) == [], record
    assert_clean(page)
