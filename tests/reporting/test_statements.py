"""Statements: a buyer's invoice and a publisher's payout, reconciling to the cent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from buyers.models import Buyer, Campaign
from exchange.models import Publisher
from leads.ledger import balances, record_adjustment, record_sale
from leads.models import Lead, LedgerEntry
from leads.returns import ReturnRefused, record_return
from reporting.statements import buyer_statement, publisher_statement, statement_rows
from tests.factories import make_campaign, make_publisher, make_vertical

JUNE = datetime(2025, 6, 1, tzinfo=UTC)
JULY = datetime(2025, 7, 1, tzinfo=UTC)


def sell(
    campaign: Campaign, publisher: Publisher, price: D, at: datetime, *, is_test: bool = False
) -> Lead:
    """A lead sold to ``campaign`` at ``at``; its sale is in the ledger unless a test lead."""
    lead = Lead.objects.create(
        vertical=campaign.vertical,
        publisher=publisher,
        status="sold",
        is_test=is_test,
        sold_campaign=campaign,
        price=price,
        payout=publisher.payout_for(price),
        sold_at=at,
    )
    lead.refresh_from_db()  # the stored (rounded) amounts, as the sale flow reads them
    if not is_test:
        record_sale(lead)
    return lead


@pytest.fixture
def book(db: Any) -> dict[str, Any]:
    """June for one buyer and one publisher: 3 sales, 1 return, 2 adjustments; plus a
    sale in July and another buyer's sale."""
    user = get_user_model().objects.create_user("finance")
    vertical = make_vertical()
    publisher = make_publisher("acme", payout_percent=D("80"))[0]
    buyer = Buyer.objects.create(slug="summit", name="Summit", max_return_percent=D("100"))
    campaign = make_campaign(vertical, "summit-tx", buyer=buyer)
    other = make_campaign(vertical, "other-tx")
    sold = [
        sell(campaign, publisher, D(price), JUNE + timedelta(days=day))
        for price, day in (("10.00", 1), ("20.5050", 2), ("33.33", 3))
    ]
    record_return(sold[1], buyer=buyer, reason="bad_data", now=JUNE + timedelta(days=4))
    record_adjustment(
        buyer=buyer, charge=D("-1.25"), reason="credit", user=user, at=JUNE + timedelta(days=5)
    )
    record_adjustment(
        publisher=publisher,
        payout=D("2.00"),
        reason="bonus",
        user=user,
        at=JUNE + timedelta(days=6),
    )
    sell(campaign, publisher, D("99.00"), JULY)
    sell(other, publisher, D("50.00"), JUNE + timedelta(days=7))
    return {"buyer": buyer, "publisher": publisher, "campaign": campaign, "user": user}


def test_a_buyer_statement_totals_the_period_sales_returns_and_adjustments(book: dict) -> None:
    statement = buyer_statement(book["buyer"], JUNE, JULY)

    assert (statement.sales_count, statement.sales_amount) == (3, D("63.8350"))
    assert (statement.returns_count, statement.returns_amount) == (1, D("-20.5050"))
    assert (statement.adjustments_count, statement.adjustments_amount) == (1, D("-1.2500"))
    assert statement.net == D("42.0800")
    assert statement.net == balances(buyer=book["buyer"], start=JUNE, end=JULY)["charge"]


def test_a_publisher_statement_totals_its_payouts(book: dict) -> None:
    statement = publisher_statement(book["publisher"], JUNE, JULY)

    # 80% of 10.00, 20.5050 (rounded to the cent), 33.33 and the other buyer's 50.00.
    assert (statement.sales_count, statement.sales_amount) == (4, D("91.0600"))
    assert (statement.returns_count, statement.returns_amount) == (1, D("-16.4000"))
    assert (statement.adjustments_count, statement.adjustments_amount) == (1, D("2.0000"))
    assert statement.net == D("76.6600")
    assert statement.net == balances(publisher=book["publisher"], start=JUNE, end=JULY)["payout"]


def test_a_statement_period_includes_its_start_and_excludes_its_end(book: dict) -> None:
    july = buyer_statement(book["buyer"], JULY, JULY + timedelta(days=31))
    june_to_the_july_sale = buyer_statement(book["buyer"], JUNE, JULY + timedelta(microseconds=1))

    assert (july.sales_count, july.net) == (1, D("99.0000"))
    assert june_to_the_july_sale.net == D("141.0800")


def test_statements_leave_out_test_leads(book: dict) -> None:
    # The ledger refuses test leads; a row written around it must still not be billed.
    lead = sell(book["campaign"], book["publisher"], D("70.00"), JUNE, is_test=True)
    LedgerEntry.objects.create(
        kind="sale",
        lead=lead,
        buyer=book["buyer"],
        publisher=book["publisher"],
        charge=D("70"),
        payout=D("56"),
        margin=D("14"),
        created_at=JUNE,
    )

    assert buyer_statement(book["buyer"], JUNE, JULY).net == D("42.0800")
    assert balances(buyer=book["buyer"], start=JUNE, end=JULY)["charge"] == D("42.0800")


def test_statement_totals_take_one_query(book: dict, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        buyer_statement(book["buyer"], JUNE, JULY)


def test_statement_rows_list_the_money_of_the_period_in_order(book: dict) -> None:
    rows = list(statement_rows(buyer=book["buyer"], start=JUNE, end=JULY))

    assert [(row.kind, row.amount) for row in rows] == [
        ("sale", D("10.00")),
        ("sale", D("20.5050")),
        ("sale", D("33.33")),
        ("return", D("-20.5050")),
        ("adjustment", D("-1.25")),
    ]
    assert sum(row.amount for row in rows) == buyer_statement(book["buyer"], JUNE, JULY).net


def test_statement_rows_belong_to_one_party(book: dict) -> None:
    with pytest.raises(ValueError):
        statement_rows(buyer=book["buyer"], publisher=book["publisher"], start=JUNE, end=JULY)


# --- property: the books always balance -------------------------------------------------

START = datetime(2025, 1, 1, tzinfo=UTC)
MONTHS = [datetime(2025, month, 1, tzinfo=UTC) for month in range(1, 6)]
PERIODS = [(START - timedelta(days=1), MONTHS[-1])] + list(zip(MONTHS, MONTHS[1:], strict=False))
money = st.integers(min_value=-50_000, max_value=50_000).map(lambda cents: D(cents) / 100)


@dataclass(frozen=True)
class Sale:
    buyer: int
    publisher: int
    price: D
    at: timedelta


@dataclass(frozen=True)
class Giveback:
    sale: int  # which earlier sale, modulo how many there are
    after: timedelta


@dataclass(frozen=True)
class Adjustment:
    buyer: int | None
    charge: D
    publisher: int | None
    payout: D
    at: timedelta


sales = st.builds(
    Sale,
    buyer=st.integers(0, 1),
    publisher=st.integers(0, 1),
    price=st.integers(min_value=1, max_value=2_000_000).map(lambda n: D(n).scaleb(-4)),
    at=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=100)),
)
givebacks = st.builds(
    Giveback,
    sale=st.integers(0, 100),
    after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)),
)
adjustments = st.builds(
    Adjustment,
    buyer=st.integers(0, 1),
    charge=money,
    publisher=st.integers(0, 1),
    payout=money,
    at=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=100)),
).filter(lambda a: a.charge or a.payout)


class TheBooksBalance(TestCase):
    """Random sequences of sales, returns and adjustments: every buyer's, publisher's and
    period's sums satisfy charge − payout = margin, match what was booked, and equal
    their statements."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.user = get_user_model().objects.create_user("finance")
        vertical = make_vertical()
        cls.buyers = [
            Buyer.objects.create(
                slug=f"b{n}",
                name=f"B{n}",
                timezone=tz,
                return_window_days=15,
                max_return_percent=D("50"),
            )
            for n, tz in enumerate(("America/New_York", "Asia/Tokyo"))
        ]
        cls.campaigns = [
            make_campaign(vertical, f"c{n}", buyer=b) for n, b in enumerate(cls.buyers)
        ]
        cls.publishers = [
            make_publisher("share", payout_percent=D("72.5"))[0],
            make_publisher("fixed", payout_model="fixed", payout_amount=D("7.50"))[0],
        ]

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(st.lists(st.one_of(sales, givebacks, adjustments), max_size=30))
    def test_sums_reconcile_for_every_party_and_period(self, operations: list[Any]) -> None:
        booked: list[tuple[int | None, int | None, D, D, datetime]] = []
        sold: list[tuple[Lead, Sale]] = []
        for op in operations:
            if isinstance(op, Sale):
                at = START + op.at
                lead = sell(self.campaigns[op.buyer], self.publishers[op.publisher], op.price, at)
                sold.append((lead, op))
                booked.append((op.buyer, op.publisher, lead.price, lead.payout, at))
            elif isinstance(op, Giveback) and sold:
                lead, sale = sold[op.sale % len(sold)]
                at = lead.sold_at + op.after
                try:
                    record_return(lead, buyer=self.buyers[sale.buyer], reason="other", now=at)
                except ReturnRefused as refused:
                    assert refused.code in {
                        "already_returned",
                        "return_window_closed",
                        "return_cap_reached",
                    }
                    continue
                booked.append((sale.buyer, sale.publisher, -lead.price, -lead.payout, at))
            elif isinstance(op, Adjustment):
                self._adjust(op, booked)

        for start, end in PERIODS:
            self._check(booked, start, end)

    def _adjust(self, op: Adjustment, booked: list[Any]) -> None:
        buyer = op.buyer if op.charge else None
        publisher = op.publisher if op.payout else None
        record_adjustment(
            buyer=None if buyer is None else self.buyers[buyer],
            publisher=None if publisher is None else self.publishers[publisher],
            charge=op.charge,
            payout=op.payout,
            reason="property test",
            user=self.user,
            at=START + op.at,
        )
        booked.append((buyer, publisher, op.charge, op.payout, START + op.at))

    def _check(self, booked: list[Any], start: datetime, end: datetime) -> None:
        def expected(rows: list[Any]) -> dict[str, D]:
            charge = sum((r[2] for r in rows if start <= r[4] < end), D(0))
            payout = sum((r[3] for r in rows if start <= r[4] < end), D(0))
            return {"charge": charge, "payout": payout, "margin": charge - payout}

        whole = balances(start=start, end=end)
        assert whole["charge"] - whole["payout"] == whole["margin"]
        assert whole == expected(booked)
        for n, buyer in enumerate(self.buyers):
            sums = balances(buyer=buyer, start=start, end=end)
            assert sums["charge"] - sums["payout"] == sums["margin"]
            assert sums == expected([r for r in booked if r[0] == n])
            statement = buyer_statement(buyer, start, end)
            assert statement.net == sums["charge"]
            parts = statement.sales_amount + statement.returns_amount
            assert parts + statement.adjustments_amount == statement.net
        for n, publisher in enumerate(self.publishers):
            sums = balances(publisher=publisher, start=start, end=end)
            assert sums["charge"] - sums["payout"] == sums["margin"]
            assert sums == expected([r for r in booked if r[1] == n])
            statement = publisher_statement(publisher, start, end)
            assert statement.net == sums["payout"]
            parts = statement.sales_amount + statement.returns_amount
            assert parts + statement.adjustments_amount == statement.net
