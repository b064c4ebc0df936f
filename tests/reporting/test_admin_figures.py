"""Buyer, campaign and publisher screens show the last 24 hours' sold, acceptance,
revenue and ping p95 from the rollups, in queries that do not grow with the rows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from buyers.models import Buyer
from exchange.models import Vertical
from reporting.models import CallHour, TrafficHour
from tests.factories import make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Any) -> Any:
    user = get_user_model().objects.create_superuser("am", "am@example.com", "pw-am-123456")
    client.force_login(user)
    return client


def fleet(n: int) -> list[Any]:
    """``n`` buyers with one campaign each and an hour of figures apiece."""
    vertical = Vertical.objects.first() or make_vertical()
    publisher = make_publisher(f"pub{Buyer.objects.count()}")[0]
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    campaigns = []
    for i in range(n):
        slug = f"c{Buyer.objects.count()}-{i}"
        campaign = make_campaign(vertical, slug)
        TrafficHour.objects.create(
            hour=hour,
            vertical=vertical,
            publisher=publisher,
            campaign=campaign,
            buyer=campaign.buyer,
            sold=3 + i,
            delivered=4 + i,
            accepted=3 + i,
            revenue=D("30.00") + i,
            refunded=D("5.00"),
        )
        TrafficHour.objects.create(  # a day old: outside the 24 hours
            hour=hour - timedelta(hours=30),
            vertical=vertical,
            publisher=publisher,
            campaign=campaign,
            buyer=campaign.buyer,
            sold=100,
        )
        CallHour.objects.create(
            hour=hour,
            vertical=vertical,
            publisher=publisher,
            campaign=campaign,
            buyer=campaign.buyer,
            kind="ping",
            outcome="accepted",
            calls=20,
            le_50=18,
            le_300=2,
        )
        campaigns.append(campaign)
    return campaigns


def test_the_buyer_list_shows_each_buyers_last_24_hours(staff: Any) -> None:
    fleet(2)
    page = staff.get("/admin/buyers/buyer/").content.decode()
    assert "Last 24 h" in page
    assert "3 sold, $25.00" in page and "4 sold, $26.00" in page  # revenue net of returns
    assert "75.0% accepted" in page  # 3 of 4 posts accepted
    assert "p95 ≤ 300 ms" in page  # 19th of 20 calls is in the 300 ms bucket
    assert "0.0% timeouts" in page


def test_list_pages_cost_the_same_queries_for_3_rows_as_for_12(staff: Any) -> None:
    fleet(3)
    counts = []
    for url in ("/admin/buyers/buyer/", "/admin/buyers/campaign/", "/admin/exchange/publisher/"):
        with CaptureQueriesContext(connection) as few:
            assert staff.get(url).status_code == 200
        counts.append((url, len(few.captured_queries)))
    fleet(9)
    for url, before in counts:
        with CaptureQueriesContext(connection) as many:
            assert staff.get(url).status_code == 200
        assert len(many.captured_queries) == before, url


def test_a_campaign_change_page_shows_its_figures(staff: Any) -> None:
    campaign = fleet(1)[0]
    page = staff.get(f"/admin/buyers/campaign/{campaign.pk}/change/").content.decode()
    assert "Last 24 hours" in page
    assert "3 sold, 75.0% of posts accepted, $25.00 revenue" in page
    page = staff.get(f"/admin/buyers/buyer/{campaign.buyer_id}/change/").content.decode()
    assert "3 sold" in page
    assert staff.get("/admin/buyers/buyer/add/").status_code == 200


def test_the_endpoint_list_shows_each_endpoints_calls_timeouts_and_p95(staff: Any) -> None:
    campaign = make_campaign(make_vertical(), "summit", ping_url="https://buyer.example/ping")
    publisher = make_publisher("acme")[0]
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    for outcome, calls, bucket in (("accepted", 20, "le_50"), ("timeout", 5, "le_inf")):
        CallHour.objects.create(
            hour=hour,
            vertical=campaign.vertical,
            publisher=publisher,
            campaign=campaign,
            buyer=campaign.buyer,
            kind="ping",
            outcome=outcome,
            calls=calls,
            **{bucket: calls},
        )
    page = staff.get("/admin/buyers/endpoint/").content.decode()
    assert "25 calls" in page
    assert "80.0% accepted" in page and "20.0% timeouts" in page
    assert "p95 &gt; 5000 ms" in page  # the 24th of 25 calls is past the last bound
    page = staff.get("/admin/buyers/campaign/").content.decode()
    assert "20.0% timeouts" in page
