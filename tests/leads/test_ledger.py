"""The ledger: sales, reversals and adjustments are rows that add up to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError

from buyers.models import Campaign
from exchange.models import Publisher
from leads.ledger import (
    LedgerError,
    balances,
    record_adjustment,
    record_sale,
    reverse_sale,
)
from leads.models import Lead, LedgerEntry
from tests.factories import make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

SOLD_AT = datetime(2025, 6, 11, 15, 0, tzinfo=UTC)


@pytest.fixture
def campaign() -> Campaign:
    return make_campaign(make_vertical(), "summit-tx")


@pytest.fixture
def publisher() -> Publisher:
    return make_publisher("acme")[0]


@pytest.fixture
def user() -> Any:
    return get_user_model().objects.create_user("finance")


def sold_lead(
    campaign: Campaign,
    publisher: Publisher,
    price: str = "25.00",
    payout: str = "20.00",
    *,
    is_test: bool = False,
) -> Lead:
    return Lead.objects.create(
        vertical=campaign.vertical,
        publisher=publisher,
        status="sold",
        is_test=is_test,
        sold_campaign=campaign,
        price=D(price),
        payout=D(payout),
        sold_at=SOLD_AT,
    )


def test_a_sale_charges_the_buyer_pays_the_publisher_and_keeps_the_margin(
    campaign: Campaign, publisher: Publisher
) -> None:
    lead = sold_lead(campaign, publisher, price="19.9950", payout="15.99")

    row = record_sale(lead)

    assert (row.kind, row.buyer, row.campaign, row.publisher, row.lead) == (
        "sale",
        campaign.buyer,
        campaign,
        publisher,
        lead,
    )
    assert (row.charge, row.payout, row.margin) == (D("19.9950"), D("15.99"), D("4.0050"))
    assert row.created_at == SOLD_AT
    assert balances(buyer=campaign.buyer) == {
        "charge": D("19.9950"),
        "payout": D("15.9900"),
        "margin": D("4.0050"),
    }


def test_a_sale_and_its_reversal_leave_every_balance_exactly_as_before(
    campaign: Campaign, publisher: Publisher, user: Any
) -> None:
    record_sale(sold_lead(campaign, publisher, price="10.10", payout="8.08"))
    record_adjustment(buyer=campaign.buyer, charge=D("-0.33"), reason="goodwill credit", user=user)
    before = [balances(), balances(buyer=campaign.buyer), balances(publisher=publisher)]
    lead = sold_lead(campaign, publisher, price="33.3333", payout="26.67")

    record_sale(lead)
    reversal = reverse_sale(lead, reason="return: bad_data", user=user)

    assert [balances(), balances(buyer=campaign.buyer), balances(publisher=publisher)] == before
    assert reversal.kind == "return"
    assert reversal.reverses == LedgerEntry.objects.get(lead=lead, kind="sale")
    assert (reversal.charge, reversal.payout, reversal.margin) == (
        D("-33.3333"),
        D("-26.67"),
        D("-6.6633"),
    )


def test_test_leads_never_reach_the_ledger(campaign: Campaign, publisher: Publisher) -> None:
    lead = sold_lead(campaign, publisher, is_test=True)

    with pytest.raises(LedgerError, match="test lead"):
        record_sale(lead)

    assert not LedgerEntry.objects.exists()


def test_a_lead_is_never_charged_twice(campaign: Campaign, publisher: Publisher) -> None:
    lead = sold_lead(campaign, publisher)
    record_sale(lead)

    with pytest.raises(LedgerError, match="already has a sale"):
        record_sale(lead)

    assert balances()["charge"] == D("25.00")


def test_an_unsold_lead_has_no_sale_to_record(campaign: Campaign, publisher: Publisher) -> None:
    lead = Lead.objects.create(vertical=campaign.vertical, publisher=publisher, status="posting")

    with pytest.raises(LedgerError, match="no sale"):
        record_sale(lead)


def test_a_sale_is_reversed_at_most_once(
    campaign: Campaign, publisher: Publisher, user: Any
) -> None:
    lead = sold_lead(campaign, publisher)
    record_sale(lead)
    reverse_sale(lead, reason="return", user=user)

    with pytest.raises(LedgerError, match="already reversed"):
        reverse_sale(lead, reason="return", user=user)

    assert balances()["charge"] == D("0")


def test_a_lead_without_a_sale_row_cannot_be_reversed(
    campaign: Campaign, publisher: Publisher
) -> None:
    with pytest.raises(LedgerError, match="no sale"):
        reverse_sale(sold_lead(campaign, publisher), reason="return")


def test_an_adjustment_moves_money_with_its_reason_and_user(
    campaign: Campaign, publisher: Publisher, user: Any
) -> None:
    credit = record_adjustment(
        buyer=campaign.buyer, charge=D("-12.50"), reason="late delivery credit", user=user
    )
    bonus = record_adjustment(publisher=publisher, payout=D("5"), reason="volume bonus", user=user)

    assert (credit.charge, credit.payout, credit.margin) == (D("-12.50"), D("0"), D("-12.50"))
    assert (bonus.charge, bonus.payout, bonus.margin) == (D("0"), D("5"), D("-5"))
    assert (credit.reason, credit.created_by) == ("late delivery credit", user)
    assert balances() == {"charge": D("-12.5"), "payout": D("5"), "margin": D("-17.5")}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reason": "  "}, "reason"),
        ({"user": None}, "user"),
        ({"charge": D("0")}, "must move some money"),
        ({"buyer": None}, "needs the buyer"),
    ],
)
def test_an_adjustment_without_what_finance_needs_is_refused(
    campaign: Campaign, user: Any, changes: dict[str, Any], message: str
) -> None:
    arguments = {"buyer": campaign.buyer, "charge": D("10"), "reason": "fix", "user": user}

    with pytest.raises(LedgerError, match=message):
        record_adjustment(**{**arguments, **changes})

    assert not LedgerEntry.objects.exists()


def test_money_is_never_a_float(campaign: Campaign, user: Any) -> None:
    with pytest.raises(TypeError):
        record_adjustment(buyer=campaign.buyer, charge=0.1, reason="fix", user=user)  # type: ignore[arg-type]


def test_a_row_whose_margin_is_not_charge_minus_payout_cannot_be_stored(
    campaign: Campaign,
) -> None:
    with pytest.raises(IntegrityError):
        LedgerEntry.objects.create(
            kind="adjustment", buyer=campaign.buyer, charge=D("10"), payout=D("0"), margin=D("9")
        )


def test_balances_cover_a_half_open_period(
    campaign: Campaign, publisher: Publisher, user: Any
) -> None:
    start = SOLD_AT
    record_adjustment(
        buyer=campaign.buyer, charge=D("1"), reason="before", user=user, at=start - timedelta(1)
    )
    record_adjustment(buyer=campaign.buyer, charge=D("2"), reason="first", user=user, at=start)
    record_adjustment(
        buyer=campaign.buyer, charge=D("4"), reason="end", user=user, at=start + timedelta(1)
    )

    assert balances(start=start, end=start + timedelta(1))["charge"] == D("2")
    assert balances(start=start)["charge"] == D("6")
    assert balances(end=start)["charge"] == D("1")
