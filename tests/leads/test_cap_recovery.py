"""Cap reservations survive crashes: an attempt that died mid-call gives back what it
took when its delivery is recovered, and the periodic recount sets counters right."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal as D
from typing import Any

import pytest
from django.db.models import Count, Sum
from django.utils import timezone
from werkzeug import Response

from buyers.models import CapCounter
from exchange.config_cache import get_config
from leads.attempts import _reserve
from leads.delivery import advance
from leads.models import Delivery, Lead
from leads.tasks import reconcile_caps
from tests.factories import POST_LEAD, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db
PEOPLE = itertools.count()


def a_lead() -> dict[str, str]:
    n = next(PEOPLE)
    return {**POST_LEAD, "phone": f"(214) 555-{200 + n:04d}", "email": f"c{n}@x.test"}


@pytest.fixture
def capped(api: Any, buyer_server: Any) -> dict[str, Any]:
    vertical = make_vertical()
    _, key = make_publisher()
    buyer_server.expect_request("/post").respond_with_handler(
        lambda r: Response(json.dumps({"status": "ok"}), content_type="application/json")
    )
    campaign = make_campaign(
        vertical,
        "capped",
        post_url=buyer_server.url_for("/post"),
        pricing_model="fixed",
        fixed_price="20.00",
        caps=[{"period": "day", "max_leads": 50}, {"period": "month", "max_spend": D("1000.00")}],
    )
    return {"key": key, "campaign": campaign}


def send(api: Any, key: str, mode: str = "sync") -> dict[str, Any]:
    body = {"vertical": "auto-insurance", "lead": a_lead(), "mode": mode}
    answer = api.post("/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 200, answer.content
    return answer.json()


def counters() -> set[tuple[int, D]]:
    return {(c.leads, c.spend) for c in CapCounter.objects.all()}


def sales() -> tuple[int, D]:
    sold = Lead.objects.filter(status="sold").aggregate(n=Count("pk"), spend=Sum("price"))
    return sold["n"], sold["spend"] or D(0)


def die_mid_call(lead_id: str) -> Delivery:
    """What a worker killed during the buyer's call leaves: a delivery 'sending' with its
    cap reservation taken, and the lead's lease run out."""
    delivery = Delivery.objects.get(lead_id=lead_id)
    campaign = get_config().campaigns[delivery.campaign_id]
    assert _reserve(delivery, campaign, timezone.now()) is not None
    Delivery.objects.filter(pk=delivery.pk).update(status="sending", attempts=1)
    Lead.objects.filter(pk=lead_id).update(lease_until=timezone.now())
    return delivery


def test_an_interrupted_attempt_gives_back_its_reservation_when_recovered(
    api: Any, capped: dict
) -> None:
    for _ in range(3):
        assert send(api, capped["key"])["status"] == "sold"
    lead_id = send(api, capped["key"], mode="async")["lead_id"]
    die_mid_call(lead_id)
    assert counters() == {(4, D("80.0000"))}  # 3 sold, 1 held by the dead attempt

    advance(lead_id)  # what the sweeper's task does once the lease has run out

    delivery = Delivery.objects.get(lead_id=lead_id)
    assert (delivery.status, delivery.attempts, delivery.reservation) == ("accepted", 2, None)
    assert sales() == (4, D("80.0000"))
    assert counters() == {(4, D("80.0000"))}  # taken once for the sale, not twice


def test_an_interrupted_attempt_that_cannot_be_retried_frees_the_cap(
    api: Any, capped: dict
) -> None:
    lead_id = send(api, capped["key"], mode="async")["lead_id"]
    delivery = die_mid_call(lead_id)
    Delivery.objects.filter(pk=delivery.pk).update(max_attempts=1)

    advance(lead_id)

    assert Delivery.objects.get(pk=delivery.pk).status == "failed"
    assert counters() == {(0, D("0.0000"))}


def test_the_recount_sets_counters_right_against_sales(api: Any, capped: dict) -> None:
    for _ in range(2):
        send(api, capped["key"])
    # A counter that drifted, as after a crash before reservations were noted.
    CapCounter.objects.update(leads=28, spend=D("560.00"))
    held = send(api, capped["key"], mode="async")["lead_id"]
    die_mid_call(held)  # in flight: its reservation still counts

    corrected = reconcile_caps()

    assert corrected == 2
    assert counters() == {(3, D("60.0000"))}
    assert reconcile_caps() == 0  # nothing left to correct
