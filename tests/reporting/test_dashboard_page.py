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


def test_a_buyer_whose_every_call_timed_out_shows_timeouts_not_a_latency(
    staff: Any, api: Any, buyer_server: Any
) -> None:
    import io
    import re

    from django.core.management import call_command

    from leads.models import TransactionLog
    from tests.factories import PING_LEAD, make_campaign, make_publisher, make_vertical

    vertical = make_vertical()
    _, key = make_publisher()
    buyer_server.expect_request("/slow/ping").respond_with_handler(
        lambda request: buyer_server.release.wait(2) and None  # never answers in time
    )
    url = buyer_server.url_for
    make_campaign(
        vertical, "slow", ping_url=url("/slow/ping"), post_url=url("/slow/post"), timeout_ms=100
    )
    for _ in range(2):
        answer = api.post(
            "/api/v1/ping",
            {"vertical": "auto-insurance", "lead": PING_LEAD},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert answer.status_code == 200, answer.content
    assert set(TransactionLog.objects.values_list("outcome", flat=True)) == {"timeout"}
    today = str(timezone.localdate())
    call_command("rebuild_rollups", "--from", today, "--to", today, stdout=io.StringIO())

    page = staff.get("/reports/").content.decode()

    row = re.search(r'<table class="dash-table" id="buyers">.*?</table>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))
    assert cells[:4] == [cells[0], "2", "all timed out", "100.0"]  # then the timeout rate
