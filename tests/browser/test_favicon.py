"""A first visit in a real browser logs nothing in the console, the icon included
(the shared ``page`` fixture ignores /favicon.ico; this test does not)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_visit_to_the_login_page_logs_no_console_error(
    chromium: Any, live_server: Any
) -> None:
    context = chromium.new_context(base_url=live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    icons: list[int] = []
    page.on(
        "response", lambda r: icons.append(r.status) if r.url.endswith("/favicon.ico") else None
    )
    page.goto("/admin/login/")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)  # the icon is fetched after the page's own load
    context.close()
    assert errors == []
    assert all(status == 200 for status in icons), icons
