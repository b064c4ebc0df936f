"""Auto-pause: campaigns whose pings time out too often or answer too slowly (SPEC §6)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from buyers.models import Campaign
from buyers.services import resume_campaigns
from leads.autopause import pause_unhealthy_campaigns
from leads.models import TransactionLog
from leads.tasks import autopause_campaigns
from tests.factories import PING_LEAD, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(buyer_server: Any) -> Campaign:
    vertical = make_vertical()
    buyer_server.expect_request("/ping").respond_with_json(
        {"result": "accepted", "bid": "20.00", "bid_id": "R"}
    )
    url = buyer_server.url_for
    return make_campaign(
        vertical,
        "slowpoke",
        ping_url=url("/ping"),
        post_url=url("/post"),
        max_timeout_rate=D("10.00"),
        max_p95_latency_ms=200,
    )


def pings(campaign: Campaign, count: int, *, ms: int = 50, outcome: str = "accepted") -> None:
    """``count`` logged pings to the campaign, a minute ago."""
    at = timezone.now() - timedelta(minutes=1)
    TransactionLog.objects.bulk_create(
        TransactionLog(
            campaign=campaign,
            kind="ping",
            url="http://buyer.test/ping",
            outcome=outcome,
            duration_ms=ms,
            created_at=at,
        )
        for _ in range(count)
    )


def age(campaign: Campaign) -> None:
    """Pretend the campaign was configured long ago (its calls all count)."""
    Campaign.objects.filter(pk=campaign.pk).update(updated_at=timezone.now() - timedelta(hours=1))


def test_a_campaign_timing_out_too_often_is_paused_with_its_reason(campaign: Campaign) -> None:
    age(campaign)
    pings(campaign, 85)
    pings(campaign, 15, ms=300, outcome="timeout")

    assert [c.pk for c in pause_unhealthy_campaigns()] == [campaign.pk]

    campaign.refresh_from_db()
    assert campaign.paused_reason.startswith("ping timeout rate 15.0%")
    assert "limit 10.00%" in campaign.paused_reason
    assert campaign.paused_at is not None


def test_a_campaign_with_a_slow_p95_is_paused(campaign: Campaign) -> None:
    age(campaign)
    pings(campaign, 90, ms=80)
    pings(campaign, 10, ms=450)

    pause_unhealthy_campaigns()

    campaign.refresh_from_db()
    assert campaign.paused_reason.startswith("ping p95 latency 450 ms")


def test_a_campaign_within_its_limits_keeps_running(campaign: Campaign) -> None:
    age(campaign)
    pings(campaign, 96, ms=80)
    pings(campaign, 4, ms=450)  # p95 is still fast
    pings(campaign, 5, outcome="timeout")  # 4.8%

    assert pause_unhealthy_campaigns() == []
    campaign.refresh_from_db()
    assert campaign.paused_reason == ""


def test_too_few_pings_are_no_evidence(campaign: Campaign) -> None:
    age(campaign)
    pings(campaign, 5, outcome="timeout")

    assert pause_unhealthy_campaigns() == []


def test_a_paused_campaign_is_not_pinged_and_the_reason_shows(
    api: Any, campaign: Campaign, buyer_server: Any
) -> None:
    _, key = make_publisher()
    age(campaign)
    pings(campaign, 50, outcome="timeout")
    autopause_campaigns()

    answer = api.post(
        "/api/v1/ping",
        {"vertical": "auto-insurance", "lead": PING_LEAD},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    assert answer.json()["status"] == "rejected"
    assert not [r for r, _ in buyer_server.log if r.path == "/ping"]


def test_a_resumed_campaign_is_judged_on_fresh_pings_only(campaign: Campaign) -> None:
    age(campaign)
    pings(campaign, 50, outcome="timeout")
    pause_unhealthy_campaigns()

    assert resume_campaigns(Campaign.objects.filter(pk=campaign.pk)) == 1
    assert pause_unhealthy_campaigns() == []  # the old timeouts no longer count

    campaign.refresh_from_db()
    assert (campaign.paused_reason, campaign.paused_at) == ("", None)


def test_an_account_manager_resumes_a_paused_campaign_from_the_admin(
    client: Any, campaign: Campaign
) -> None:
    client.force_login(User.objects.create_superuser("am", "am@example.com", "pw"))
    age(campaign)
    pings(campaign, 50, outcome="timeout")
    pause_unhealthy_campaigns()

    client.post("/admin/buyers/campaign/", {"action": "resume", "_selected_action": [campaign.pk]})

    campaign.refresh_from_db()
    assert campaign.paused_reason == ""
