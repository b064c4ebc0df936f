"""The interactive API docs in a real browser, under the Content-Security-Policy: the
Authorize button takes a key, and "Try it out" sends a vertical's example with it.
The posting instructions page renders cleanly too."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.factories import make_campaign, make_publisher, make_vertical

from .conftest import admin_login, assert_clean

pytestmark = pytest.mark.django_db(transaction=True)


def test_authorize_then_try_a_ping_with_the_vertical_s_example(page: Any) -> None:
    vertical = make_vertical()
    make_campaign(
        vertical,
        "flat",
        post_url="http://127.0.0.1:9/post",
        pricing_model="fixed",
        fixed_price="9.00",
    )
    _, key = make_publisher()

    page.goto("/api/docs/")
    page.click(".swagger-ui .auth-wrapper .authorize")
    dialog = page.locator(".swagger-ui .dialog-ux")
    dialog.locator("input[type=text], input[type=password]").first.fill(key)
    dialog.locator("button.authorize").first.click()
    dialog.locator("button.btn-done").first.click()

    operation = page.locator("#operations-leads-v1_ping_create")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    body = operation.locator("textarea.body-param__text")
    assert '"vertical": "auto-insurance"' in body.input_value()  # the vertical's example
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    answer = operation.locator(
        ".live-responses-table tr.response .response-col_description pre"
    ).first
    assert '"status": "accepted"' in answer.inner_text()
    assert_clean(page)


def test_the_posting_instructions_page_and_its_print_view_render_cleanly(page: Any) -> None:
    make_vertical()
    publisher, _ = make_publisher()
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-1")
    admin_login(page, "root", "pw-root-1")
    page.wait_for_load_state("networkidle")

    page.goto(f"/admin/exchange/publisher/{publisher.pk}/change/")
    page.click("a.posting-instructions")
    page.wait_for_selector("#posting-instructions")
    assert page.locator("tr.field-row[data-field=credit_tier]").count() == 1
    post = page.locator("#curl-post")
    fits = post.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert fits  # the long curl line wraps inside the page
    page.wait_for_load_state("networkidle")
    page.click("#print-view")
    page.wait_for_selector("#posting-instructions")
    page.emulate_media(media="print")
    assert not page.locator(".screen-only").is_visible()
    page.wait_for_load_state("networkidle")
    assert_clean(page)
