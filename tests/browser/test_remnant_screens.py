"""A fixed-price fallback campaign with modifiers, edited and previewed in a real
browser: the account manager sets the price rules on the change page and the test
console shows the modified price."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from buyers.models import Campaign
from tests.factories import make_campaign, make_vertical

from .conftest import admin_login, assert_clean

pytestmark = pytest.mark.django_db(transaction=True)

MODIFIERS = [{"when": {"field": "state", "op": "in", "value": ["CA", "NY"]}, "add": "2.50"}]


def test_a_manager_sets_a_fallback_with_modifiers_and_previews_its_price(page: Any) -> None:
    campaign = make_campaign(
        make_vertical(),
        "leftovers",
        post_url="https://buyer.example.com/post",
        pricing_model="fixed",
        fixed_price="10.00",
    )
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-1")
    admin_login(page, "root", "pw-root-1")
    page.wait_for_load_state("networkidle")

    page.goto(f"/admin/buyers/campaign/{campaign.pk}/change/")
    page.check("input[name=fallback]")
    page.fill("textarea[name=price_modifiers]", json.dumps(MODIFIERS))
    page.fill("textarea[name=throttle]", '{"pings": 300, "per": "5m"}')
    page.click("input[name=_continue]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".errornote").count() == 0
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert (campaign.fallback, campaign.price_modifiers) == (True, MODIFIERS)

    page.goto(f"/admin/buyers/campaign/{campaign.pk}/test-lead/")
    page.wait_for_load_state("networkidle")
    lead = json.loads(page.input_value("textarea[name=lead]"))
    page.fill("textarea[name=lead]", json.dumps({**lead, "state": "NY", "zip": "10001"}))
    page.click("button[value=preview]")
    price = page.locator('#test-price [data-field="price"]')
    price.wait_for()
    assert price.inner_text() == "12.50 USD"
    assert "state in [CA, NY]: +2.50" in page.locator("#test-price").inner_text()
    assert_clean(page)
