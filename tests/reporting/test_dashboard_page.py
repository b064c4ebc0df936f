"""The dashboard page: today by default, bad filters answered with the form's error,
the admin index links it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Any) -> Any:
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-12345")
    client.force_login(user)
    return client


def test_the_dashboard_opens_on_today(staff: Any) -> None:
    page = staff.get("/reports/").content.decode()
    today = str(timezone.localdate())
    assert f"{today} to {today}, by hour." in page
    assert f'value="{today}"' in page
    assert page.count('<svg class="chart"') == 5


@pytest.mark.parametrize(
    "query,error",
    [
        ({"start": "2026-10-05", "end": "2026-10-01"}, "must not be before"),
        ({"start": "2026-01-01", "end": "2026-12-31"}, "at most 92 days"),
        ({"start": "yesterday"}, "Enter a valid date"),
        ({"publisher": "99999"}, "Select a valid choice"),
        ({"by": "minute"}, "Select a valid choice"),
    ],
)
def test_bad_filters_are_a_400_with_the_reason(staff: Any, query: dict, error: str) -> None:
    answer = staff.get("/reports/", query)
    assert answer.status_code == 400
    assert error in answer.content.decode()


def test_the_admin_index_links_the_dashboard_and_view_site_goes_there(staff: Any) -> None:
    page = staff.get("/admin/").content.decode()
    assert 'href="/reports/"' in page
    assert "Operations dashboard" in page
