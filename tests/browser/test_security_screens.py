"""The security screens render in a real browser under the CSP: the two-factor set-up
page with its QR code, and the page that shows a new API key once."""

from __future__ import annotations

from typing import Any

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import make_publisher

from .conftest import admin_login, assert_clean

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-pass-phrase-7"


def test_a_superuser_scans_the_qr_code_and_confirms_it(
    page: Any, django_user_model: Any, settings: Any
) -> None:
    settings.ADMIN_2FA = "required"
    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    admin_login(page, "root", PASSWORD)
    page.wait_for_selector("#otp-qr svg")
    assert "/admin/two-factor/" in page.url
    box = page.locator("#otp-qr svg").bounding_box()
    assert box and box["width"] >= 200  # drawn, at a scannable size
    device = TOTPDevice.objects.get(user__username="root")
    page.fill("#id_otp_token", f"{totp(device.bin_key):06d}")
    page.click("#otp-form input[type=submit]")
    page.wait_for_selector("#site-name")
    assert page.url.endswith("/admin/")
    assert_clean(page)


def test_a_new_publisher_key_is_shown_once_on_its_own_page(
    page: Any, django_user_model: Any
) -> None:
    publisher, _ = make_publisher()
    django_user_model.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    admin_login(page, "ops", PASSWORD)
    page.goto("/admin/exchange/publisher/")
    page.check(f"input[name=_selected_action][value='{publisher.pk}']")
    page.select_option("select[name=action]", "create_live_key")
    page.click("button[name=index]")
    page.wait_for_selector("#new-keys code.new-key")
    raw = page.inner_text("#new-keys code.new-key")
    assert raw.startswith("sy_live_")
    cookies = " ".join(c["value"] for c in page.context.cookies())
    assert raw not in cookies and "sy_" not in cookies
    page.goto("/admin/exchange/publisher/")
    assert raw not in page.content()
    assert_clean(page)


def test_the_history_and_reveal_screens_work_under_the_csp(
    page: Any, django_user_model: Any
) -> None:
    from exchange.models import Publisher
    from leads.models import Lead
    from tests.factories import make_campaign, make_vertical

    vertical = make_vertical()
    campaign = make_campaign(vertical, "summit-tx", ping_url="http://127.0.0.1:9/ping")
    campaign.priority = 4
    campaign.save()
    lead = Lead.objects.create(
        vertical=vertical,
        publisher=Publisher.objects.create(slug="acme", name="Acme"),
        status="sold",
        pii={"email": "ann.lee@example.com"},
    )
    django_user_model.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    admin_login(page, "ops", PASSWORD)

    page.goto(f"/admin/buyers/campaign/{campaign.pk}/change/")
    page.wait_for_selector("#campaign_form")
    page.goto(f"/admin/buyers/campaign/{campaign.pk}/history/")
    assert "Priority: 0 → 4" in page.inner_text("#content-main").replace("\n", " ")
    page.click("#change-history tbody tr:last-child a")
    page.wait_for_selector("input[name=priority]")
    assert page.input_value("input[name=priority]") == "0"

    page.goto(f"/admin/leads/lead/{lead.pk}/change/")
    page.click("text=Reveal personal data (recorded)")
    page.fill("input[name=reason]", "checking the screen")
    page.click("input[type=submit][value='Reveal personal data']")
    page.wait_for_selector("#revealed-pii")
    assert "ann.lee@example.com" in page.inner_text("#revealed-pii")
    assert_clean(page)
