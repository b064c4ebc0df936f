"""The campaign test console in a real browser: a long one-line request body is
wrapped inside the page, readable at 1366 px, not cut off at the right edge."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.factories import make_campaign, make_vertical

from .conftest import admin_login, assert_clean

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_request_body_wraps_inside_the_page(page: Any) -> None:
    campaign = make_campaign(
        make_vertical(),
        "summit-tx",
        ping_url="https://buyer.example.com/ping",
        post_url="https://buyer.example.com/post",
    )
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-1")
    admin_login(page, "root", "pw-root-1")
    page.wait_for_load_state("networkidle")  # leaving the index must not abort its icons

    page.goto(f"/admin/buyers/campaign/{campaign.pk}/test-lead/")
    page.wait_for_load_state("networkidle")  # the submit must not abort the page's icons
    page.select_option("select[name=target]", index=1)  # the post: every field, one line
    page.click("button[value=preview]")
    body = page.locator("#test-request-body")
    body.wait_for()
    assert len(body.inner_text()) > 150  # one line, longer than the column is wide
    fits = body.evaluate("el => el.scrollWidth <= el.clientWidth")
    right = body.evaluate("el => el.getBoundingClientRect().right")
    assert fits and right <= page.evaluate("document.documentElement.clientWidth")
    assert_clean(page)
