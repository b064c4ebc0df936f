"""Alerts reach people once: a buyer's circuit opening under a flood of failing pings
gives exactly one signed webhook and one email; every alert is kept and acknowledged
in the admin."""

from __future__ import annotations

import hmac
import json
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from buyers.caps import window_start
from buyers.models import Buyer, Cap, CapCounter
from exchange.celery import app
from leads.callbacks import sign
from reporting import alerts
from reporting.models import Alert, AlertRule
from reporting.tasks import check_alerts
from tests.factories import make_campaign, make_publisher, make_vertical, ping

pytestmark = pytest.mark.django_db

SECRET = "hook-secret-for-tests"


@pytest.fixture
def eager(monkeypatch: Any) -> None:
    """Celery tasks run where they are queued, as a worker would run them."""
    monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.fixture
def hooks(settings: Any, buyer_server: Any) -> list[Any]:
    """The webhook's receiver on the local server; the requests it got."""
    received: list[Any] = []

    def keep(request: Any) -> Any:
        from werkzeug import Response

        received.append(request)
        return Response("ok")

    buyer_server.expect_request("/hooks/alerts", method="POST").respond_with_handler(keep)
    settings.ALERT_WEBHOOK_URL = buyer_server.url_for("/hooks/alerts")
    settings.ALERT_WEBHOOK_SECRET = SECRET
    settings.ALERT_EMAILS = ["oncall@example.com", "am@example.com"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return received


def test_a_circuit_opening_under_many_failing_pings_alerts_exactly_once(
    api: Any, buyer_server: Any, hooks: list[Any], eager: None, settings: Any
) -> None:
    # A short cool-down: the circuit probes and opens again and again during the flood.
    settings.SWITCHYARD = {**settings.SWITCHYARD, "CIRCUIT_COOL_DOWN_SECONDS": 0}
    vertical = make_vertical()
    _, key = make_publisher()
    buyer_server.expect_request("/down/ping").respond_with_data("down", status=503)
    campaign = make_campaign(
        vertical,
        "down",
        ping_url=buyer_server.url_for("/down/ping"),
        post_url=buyer_server.url_for("/down/post"),
    )
    for n in range(40):
        assert ping(api, key).status_code == 200
        if n % 5 == 4:
            check_alerts()  # the beat, every few pings

    assert campaign.endpoints.get(kind="ping").circuit_events.filter(to_status="open").count() >= 2
    assert len(hooks) == 1
    body = hooks[0].get_data()
    # Signed as publisher callbacks are: the receiver recomputes it from the raw body.
    assert hmac.compare_digest(sign(SECRET, body), hooks[0].headers["X-Switchyard-Signature"])
    sent = json.loads(body)
    assert sent["event"] == "circuit_opened"
    assert sent["subject"].startswith("endpoint:")
    assert sent["detail"]["campaign"] == "down"
    assert "Circuit opened" in sent["text"]
    assert {"event", "at", "subject", "detail", "text"} <= set(sent)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["oncall@example.com", "am@example.com"]
    assert "Circuit opened" in mail.outbox[0].subject
    alert = Alert.objects.get()
    assert (alert.email_status, alert.webhook_status) == ("sent", "sent")


def test_the_same_subject_alerts_again_after_its_quiet_period(settings: Any) -> None:
    settings.ALERT_QUIET_MINUTES = 10
    now = timezone.now()
    first = alerts.raise_alert("campaign_paused", "campaign:x", "Paused", {}, now=now)
    assert first is not None
    assert (
        alerts.raise_alert(
            "campaign_paused", "campaign:x", "Paused", {}, now=now + timedelta(minutes=9)
        )
        is None
    )
    assert alerts.raise_alert("campaign_paused", "campaign:y", "Paused", {}, now=now) is not None
    assert alerts.raise_alert(
        "campaign_paused", "campaign:x", "Paused", {}, now=now + timedelta(minutes=10)
    )
    assert Alert.objects.count() == 3


def test_a_rule_switched_off_raises_nothing_and_a_rule_names_its_own_recipients(
    hooks: list[Any], eager: None
) -> None:
    AlertRule.objects.create(event="campaign_paused", is_active=False)
    AlertRule.objects.create(event="cap_reached", emails="caps@example.com", quiet_minutes=1)
    assert alerts.raise_alert("campaign_paused", "campaign:x", "Paused", {}) is None
    alert = alerts.raise_alert("cap_reached", "cap:1", "Cap reached", {})
    assert alert is not None
    alerts.deliver(alert.pk)
    assert mail.outbox[0].to == ["caps@example.com"]
    assert len(hooks) == 1  # the webhook falls back to ALERT_WEBHOOK_URL


def test_caps_alert_at_80_percent_and_when_reached(hooks: list[Any]) -> None:
    campaign = make_campaign(make_vertical(), "capped")
    cap = Cap.objects.create(campaign=campaign, period="day", max_leads=10)
    now = timezone.now()
    counter = CapCounter.objects.create(
        cap=cap, window_start=window_start("day", "UTC", now), leads=8
    )
    alerts.check(now)
    assert list(Alert.objects.values_list("event", flat=True)) == ["cap_near"]
    counter.leads = 10
    counter.save()
    alerts.check(now)
    assert sorted(Alert.objects.values_list("event", flat=True)) == ["cap_near", "cap_reached"]


def test_a_paused_campaign_and_a_webhook_that_fails_are_both_kept(
    settings: Any, hooks: list[Any], eager: None, buyer_server: Any
) -> None:
    buyer_server.expect_request("/hooks/broken").respond_with_data("no", status=500)
    settings.ALERT_WEBHOOK_URL = buyer_server.url_for("/hooks/broken")
    campaign = make_campaign(make_vertical(), "slow")
    now = timezone.now()
    alerts.check(now)  # the checker's first look sets its mark
    campaign.paused_reason, campaign.paused_at = "ping p95 too high", now + timedelta(seconds=1)
    campaign.save()
    for alert_id in alerts.check(now + timedelta(seconds=2)):
        alerts.deliver(alert_id)
    alert = Alert.objects.get(event="campaign_paused")
    assert alert.webhook_status == "failed" and "HTTP 500" in alert.send_error
    assert alert.email_status == "sent"
    assert alert.detail["reason"] == "ping p95 too high"


def test_alerts_are_listed_in_the_admin_and_acknowledged_by_name(client: Any) -> None:
    user = get_user_model().objects.create_superuser("kim", "kim@example.com", "pw-kim-12345")
    client.force_login(user)
    alert = alerts.raise_alert(
        "delivery_failed", "campaign:x", "3 deliveries failed", {"failed": 3}
    )
    assert alert is not None
    listed = client.get("/admin/reporting/alert/")
    assert listed.status_code == 200 and b"3 deliveries failed" in listed.content
    done = client.post(
        "/admin/reporting/alert/",
        {"action": "acknowledge", "_selected_action": [alert.pk]},
        follow=True,
    )
    assert b"1 alert(s) acknowledged" in done.content
    alert.refresh_from_db()
    assert alert.acknowledged_by == user and alert.acknowledged_at is not None
    assert client.get("/admin/reporting/alertrule/add/").status_code == 200


def test_someone_without_the_dashboard_permission_sees_neither_alerts_nor_dashboard(
    client: Any,
) -> None:
    user = get_user_model().objects.create_user("guest", password="pw-guest-12345", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/reporting/alert/").status_code == 403
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/?format=csv").status_code == 403
    client.logout()
    assert client.get("/reports/").status_code == 302


def test_return_rate_over_the_limit_alerts_once_a_month(hooks: list[Any]) -> None:
    from reporting.models import TrafficHour

    buyer = Buyer.objects.create(slug="picky", name="Picky", max_return_percent=D("10"))
    campaign = make_campaign(make_vertical(), "picky-tx", buyer=buyer)
    publisher, _ = make_publisher()
    now = timezone.now()
    TrafficHour.objects.create(
        hour=now.replace(minute=0, second=0, microsecond=0),
        vertical=campaign.vertical,
        publisher=publisher,
        campaign=campaign,
        buyer=buyer,
        sold=10,
        returns=2,
    )
    alerts.check(now)
    alerts.check(now)
    alert = Alert.objects.get()
    assert alert.event == "return_rate_exceeded" and "20.0%" in alert.title


def _hour(at: Any) -> Any:
    return at.replace(minute=0, second=0, microsecond=0)


def test_a_publisher_silent_in_its_usual_hours_alerts_and_one_that_sends_does_not(
    hooks: list[Any], api: Any
) -> None:
    from reporting.models import TrafficHour

    vertical = make_vertical()
    quiet, _ = make_publisher("quiet")
    busy, busy_key = make_publisher("busy")
    now = timezone.now()
    for days in (1, 2, 3):
        for publisher in (quiet, busy):
            TrafficHour.objects.create(
                hour=_hour(now - timedelta(days=days)),
                vertical=vertical,
                publisher=publisher,
                pings=40,
            )
    assert ping(api, busy_key).status_code == 200  # busy sent a lead just now
    alerts.check(now + timedelta(seconds=1))
    alert = Alert.objects.get()
    assert alert.event == "publisher_silent" and alert.subject == "publisher:quiet"


def test_a_buyer_whose_acceptance_drops_alerts(hooks: list[Any]) -> None:
    from reporting.models import TrafficHour

    buyer = Buyer.objects.create(slug="fickle", name="Fickle")
    campaign = make_campaign(make_vertical(), "fickle-tx", buyer=buyer)
    publisher, _ = make_publisher()
    now = timezone.now()
    row = {
        "vertical": campaign.vertical,
        "publisher": publisher,
        "campaign": campaign,
        "buyer": buyer,
    }
    TrafficHour.objects.create(
        hour=_hour(now - timedelta(days=2)), delivered=100, accepted=90, **row
    )
    TrafficHour.objects.create(hour=_hour(now), delivered=30, accepted=12, **row)
    alerts.check(now)
    alert = Alert.objects.get()
    assert alert.event == "acceptance_drop"
    assert "40% of posts, down from 90%" in alert.title
