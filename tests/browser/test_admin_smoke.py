"""The admin opens in a real browser with its styles and scripts, and no console error."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import admin_login, assert_clean

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_account_manager_logs_in_and_sees_the_admin_index(
    page: Any, django_user_model: Any
) -> None:
    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-pass-phrase")
    admin_login(page, "ops", "a-long-pass-phrase")
    page.wait_for_selector("#site-name")
    assert "Log out" in page.inner_text("#user-tools") or page.locator("#logout-form").count() == 1
    assert page.locator("link[rel=stylesheet]").count() > 0
    assert_clean(page)
