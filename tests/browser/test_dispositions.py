"""Conversions in a real browser: the dashboard's conversion tables show what a buyer
reported, fitting the page, and the campaign page shows its postback URL; no console
error."""

from __future__ import annotations

from typing import Any

import pytest

from buyers.models import Campaign
from leads.models import Lead
from reporting import rollups
from tests.reporting.traffic import build_market, send

from .conftest import admin_login, assert_clean

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def converted(api: Any, buyer_server: Any) -> Any:
    """Summit bought some leads and reports one of them converted for 310.00."""
    market = build_market(buyer_server)
    sold = send(api, market, [("acme", "good", "direct"), ("zeta", "good", "direct")], start=1)
    bought = [i for i in sold if Lead.objects.filter(pk=i, sold_campaign__slug="summit-tx")]
    answer = api.post(
        "/api/v1/buyer/dispositions",
        {"lead_id": bought[0], "event": "converted", "value": "310.00"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {market.buyer_key}",
    )
    assert answer.status_code == 201, answer.content
    rollups.refresh()
    return market


def test_the_dashboard_shows_conversions_and_the_campaign_its_postback_url(
    page: Any, django_user_model: Any, converted: Any
) -> None:
    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-pass-phrase")
    admin_login(page, "ops", "a-long-pass-phrase")

    page.goto("/reports/")
    table = page.locator("#conversions-campaign")
    row = table.locator("tr", has_text="summit-tx")
    assert "310.00" in row.inner_text()
    assert "converted" in page.locator("#conversions-publisher thead").inner_text().lower()
    box = table.bounding_box()
    assert box and box["x"] + box["width"] <= 1366  # within the page at 1366 px

    campaign = Campaign.objects.get(slug="summit-tx")
    page.goto(f"/admin/buyers/campaign/{campaign.pk}/change/")
    postback = page.locator(".field-postback_url").inner_text()
    assert "/api/v1/postback/summit-tx?lead_id={lead_id}" in postback
    assert page.locator(".field-postback_secret .readonly").inner_text().strip()
    assert_clean(page)
