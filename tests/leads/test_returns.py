"""Returns: a buyer sends back a lead it bought, and the sale's money is reversed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model

from buyers.models import Buyer, Campaign
from exchange.models import Publisher
from leads.ledger import balances, record_sale
from leads.models import Lead, LeadEvent, LedgerEntry, Return
from leads.returns import ReturnRefused, record_return
from tests.factories import make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 20, 15, 0, tzinfo=UTC)
LA = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def buyer() -> Buyer:
    return Buyer.objects.create(
        slug="summit",
        name="Summit",
        timezone="America/Los_Angeles",
        return_window_days=7,
        max_return_percent=D("100"),
    )


@pytest.fixture
def campaign(buyer: Buyer) -> Campaign:
    return make_campaign(make_vertical(), "summit-tx", buyer=buyer)


@pytest.fixture
def publisher() -> Publisher:
    return make_publisher("acme")[0]


def sell(
    campaign: Campaign,
    publisher: Publisher,
    sold_at: datetime = NOW - timedelta(days=1),
    *,
    price: str = "25.00",
    is_test: bool = False,
) -> Lead:
    """A lead sold to ``campaign`` at ``sold_at``, with its sale in the ledger."""
    lead = Lead.objects.create(
        vertical=campaign.vertical,
        publisher=publisher,
        status="sold",
        is_test=is_test,
        sold_campaign=campaign,
        price=D(price),
        payout=D(price) * D("0.8"),
        sold_at=sold_at,
    )
    if not is_test:
        record_sale(lead)
    return lead


def refusal(lead: Lead, buyer: Buyer, now: datetime = NOW) -> str:
    """The code of the refused return; fails the test if nothing was refused or written."""
    ledger_rows = LedgerEntry.objects.count()
    with pytest.raises(ReturnRefused) as refused:
        record_return(lead, buyer=buyer, reason="bad_data", now=now)
    assert refused.value.message
    assert LedgerEntry.objects.count() == ledger_rows
    return refused.value.code


def test_a_return_reverses_the_sale_and_marks_the_lead_returned(
    buyer: Buyer, campaign: Campaign, publisher: Publisher
) -> None:
    manager = get_user_model().objects.create_user("am")
    lead = sell(campaign, publisher, price="31.17")

    record = record_return(
        lead, buyer=buyer, reason="disconnected", note="number dead", user=manager, now=NOW
    )

    assert (record.buyer, record.reason, record.note, record.created_by) == (
        buyer,
        "disconnected",
        "number dead",
        manager,
    )
    zero = {"charge": D("0"), "payout": D("0"), "margin": D("0")}
    assert balances(buyer=buyer) == zero
    assert balances(publisher=publisher) == zero
    assert Lead.objects.get(pk=lead.pk).status == "returned"
    event = LeadEvent.objects.get(lead=lead)
    assert (event.from_status, event.to_status, event.at) == ("sold", "returned", NOW)


def test_an_unsold_lead_cannot_be_returned(
    buyer: Buyer, campaign: Campaign, publisher: Publisher
) -> None:
    lead = sell(campaign, publisher)
    Lead.objects.filter(pk=lead.pk).update(status="rejected")

    assert refusal(lead, buyer) == "not_sold"


def test_a_buyer_cannot_return_another_buyer_lead(campaign: Campaign, publisher: Publisher) -> None:
    other = Buyer.objects.create(slug="other", name="Other", max_return_percent=D("100"))

    assert refusal(sell(campaign, publisher), other) == "not_your_lead"


def test_a_test_lead_cannot_be_returned(
    buyer: Buyer, campaign: Campaign, publisher: Publisher
) -> None:
    assert refusal(sell(campaign, publisher, is_test=True), buyer) == "test_lead"


def test_a_lead_cannot_be_returned_twice(
    buyer: Buyer, campaign: Campaign, publisher: Publisher
) -> None:
    lead = sell(campaign, publisher)
    record_return(lead, buyer=buyer, reason="duplicate", now=NOW)

    assert refusal(lead, buyer, NOW + timedelta(minutes=1)) == "already_returned"
    assert Return.objects.count() == 1


def test_the_return_window_closes_exactly_after_its_days(
    buyer: Buyer, campaign: Campaign, publisher: Publisher
) -> None:
    on_time = sell(campaign, publisher, NOW - timedelta(days=7))
    late = sell(campaign, publisher, NOW - timedelta(days=7, seconds=1))

    assert refusal(late, buyer) == "return_window_closed"
    record_return(on_time, buyer=buyer, reason="bad_data", now=NOW)


def test_returns_stay_within_the_percent_of_the_month_purchases(
    buyer: Buyer, campaign: Campaign, publisher: Publisher
) -> None:
    buyer.max_return_percent = D("20")
    buyer.save()
    leads = [sell(campaign, publisher, NOW - timedelta(hours=n + 1)) for n in range(10)]

    record_return(leads[0], buyer=buyer, reason="bad_data", now=NOW)
    record_return(leads[1], buyer=buyer, reason="bad_data", now=NOW)

    assert refusal(leads[2], buyer) == "return_cap_reached"  # 3 of 10 is over 20%


def test_one_return_is_allowed_after_a_single_purchase(
    buyer: Buyer, campaign: Campaign, publisher: Publisher
) -> None:
    buyer.max_return_percent = D("20")
    buyer.save()

    record_return(sell(campaign, publisher), buyer=buyer, reason="bad_data", now=NOW)

    assert Return.objects.count() == 1


def test_a_zero_percent_policy_refuses_every_return(
    buyer: Buyer, campaign: Campaign, publisher: Publisher
) -> None:
    buyer.max_return_percent = D("0")
    buyer.save()

    assert refusal(sell(campaign, publisher), buyer) == "return_cap_reached"


def test_the_return_cap_counts_the_calendar_month_of_the_buyer_timezone(
    buyer: Buyer, campaign: Campaign, publisher: Publisher
) -> None:
    buyer.max_return_percent = D("50")
    buyer.save()
    now = datetime(2025, 3, 5, 12, 0, tzinfo=LA)
    # Late on 28 February in Los Angeles is already March in UTC: not this month's.
    for minute in (1, 2):
        sell(campaign, publisher, datetime(2025, 2, 28, 20, minute, tzinfo=LA))
    march = [sell(campaign, publisher, datetime(2025, 3, day, 9, 0, tzinfo=LA)) for day in (1, 2)]

    record_return(march[0], buyer=buyer, reason="bad_data", now=now)

    assert refusal(march[1], buyer, now) == "return_cap_reached"  # 2 of 2 March purchases


def test_an_unknown_reason_is_a_programming_error(
    buyer: Buyer, campaign: Campaign, publisher: Publisher
) -> None:
    with pytest.raises(ValueError):
        record_return(sell(campaign, publisher), buyer=buyer, reason="meh", now=NOW)
