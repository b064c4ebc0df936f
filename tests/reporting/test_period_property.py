"""Property: for random sequences of sales, returns, adjustments and period closes,
a closed month's statements never change and every month's reconciliation balances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from buyers.models import Buyer
from leads.ledger import record_adjustment
from leads.periods import close_period, is_closed, month_bounds, next_month
from leads.returns import ReturnRefused, record_return
from reporting.reconciliation import reconcile
from reporting.statements import buyer_statement, publisher_statement
from tests.factories import make_campaign, make_publisher, make_vertical
from tests.reporting.finance import sell

START = datetime(2025, 1, 1, tzinfo=UTC)
MONTHS = [date(2025, m, 1) for m in range(1, 6)]


@dataclass(frozen=True)
class Sale:
    buyer: int
    publisher: int
    price: D


@dataclass(frozen=True)
class Giveback:
    sale: int


@dataclass(frozen=True)
class Adjust:
    buyer: int
    publisher: int
    amount: D
    backdate: timedelta  # how far before "now" the adjustment says it belongs


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class Step:
    wait: timedelta
    op: Sale | Giveback | Adjust | Close


cents = st.integers(min_value=-20_000, max_value=20_000).filter(bool).map(lambda c: D(c) / 100)
ops = st.one_of(
    st.builds(
        Sale,
        buyer=st.integers(0, 1),
        publisher=st.integers(0, 1),
        price=st.integers(1, 500_000).map(lambda n: D(n).scaleb(-4)),
    ),
    st.builds(Giveback, sale=st.integers(0, 50)),
    st.builds(
        Adjust,
        buyer=st.integers(0, 1),
        publisher=st.integers(0, 1),
        amount=cents,
        backdate=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
    ),
    st.just(Close()),
)
steps = st.lists(
    st.builds(
        Step,
        wait=st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=9)),
        op=ops,
    ),
    max_size=30,
)


class ClosedMonthsStayClosed(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.user = get_user_model().objects.create_user("finance")
        vertical = make_vertical()
        cls.buyers = [
            Buyer.objects.create(
                slug=f"b{n}", name=f"B{n}", return_window_days=40, max_return_percent=D(100)
            )
            for n in range(2)
        ]
        cls.campaigns = [
            make_campaign(vertical, f"c{n}", buyer=b) for n, b in enumerate(cls.buyers)
        ]
        cls.publishers = [
            make_publisher("share", payout_percent=D("72.5"))[0],
            make_publisher("fixed", payout_model="fixed", payout_amount=D("7.50"))[0],
        ]

    def statements(self, month: date) -> list[Any]:
        start, end = month_bounds(month)
        return [buyer_statement(b, start, end) for b in self.buyers] + [
            publisher_statement(p, start, end) for p in self.publishers
        ]

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(steps)
    def test_closed_statements_never_change_and_every_month_balances(
        self, script: list[Step]
    ) -> None:
        now = START
        sold: list[Any] = []
        frozen: dict[date, list[Any]] = {}
        for step in script:
            now += step.wait
            op = step.op
            if isinstance(op, Sale):
                lead = sell(self.campaigns[op.buyer], self.publishers[op.publisher], op.price, now)
                sold.append((lead, op.buyer))
            elif isinstance(op, Giveback) and sold:
                lead, buyer = sold[op.sale % len(sold)]
                try:
                    record_return(lead, buyer=self.buyers[buyer], reason="other", now=now)
                except ReturnRefused as refused:
                    assert refused.code in {
                        "already_returned",
                        "return_window_closed",
                        "return_cap_reached",
                    }
            elif isinstance(op, Adjust):
                record_adjustment(
                    buyer=self.buyers[op.buyer],
                    publisher=self.publishers[op.publisher],
                    charge=op.amount,
                    payout=op.amount / 2,
                    reason="property",
                    user=self.user,
                    at=max(now - op.backdate, START),
                )
            elif isinstance(op, Close):
                month = next((m for m in MONTHS if not is_closed(m)), None)
                if month is not None and month_bounds(month)[1] <= now:
                    close_period(month, now=now)
                    frozen[month] = self.statements(month)
            # A closed month reads the same after every later step.
            for month, seen in frozen.items():
                assert self.statements(month) == seen

        month = MONTHS[0]
        while month_bounds(month)[0] <= now:
            result = reconcile(month)
            assert result.balanced, result.checks
            assert not any(result.finding_counts.values()), result.findings
            month = next_month(month)
