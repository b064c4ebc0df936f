"""Shared set-up for the finance tests: a book of known sales and a finance user.

The example of the issue: three leads to a buyer bidding 30.00, three to one bidding
4.00, a publisher on 80 % revenue share, and one return (of a 4.00 lead). Nets:
buyer 90.00, buyer 8.00, publisher 78.40.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from buyers.models import Buyer, Campaign
from exchange.models import Publisher, Vertical
from leads.ledger import record_sale
from leads.models import Lead
from leads.returns import record_return
from tests.factories import make_campaign, make_publisher, make_vertical

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
FINANCE_PERMS = ("view_statements", "close_period", "issue_invoice")


def sell(campaign: Campaign, publisher: Publisher, price: D | str, at: datetime) -> Lead:
    """A lead sold to ``campaign`` at ``at`` through the ledger's sale service."""
    lead = Lead.objects.create(
        vertical=campaign.vertical,
        publisher=publisher,
        status="sold",
        sold_campaign=campaign,
        price=D(price),
        payout=publisher.payout_for(D(price)),
        sold_at=at,
        created_at=at,
    )
    lead.refresh_from_db()
    record_sale(lead)
    return lead


@dataclass
class Book:
    vertical: Vertical
    publisher: Publisher
    publisher_key: str
    summit: Buyer
    summit_tx: Campaign
    budget: Buyer
    budget_tx: Campaign
    leads: list[Lead]
    returned: Lead


def make_book(*, month: datetime = OCTOBER) -> Book:
    """Six sales in ``month`` (3 × 30.00 to Summit, 3 × 4.00 to Budget) and one return."""
    vertical = make_vertical()
    publisher, key = make_publisher("acme", payout_percent=D("80"))
    summit = Buyer.objects.create(
        slug="summit", name="Summit Insurance", max_return_percent=D(100), return_window_days=60
    )
    budget = Buyer.objects.create(
        slug="budget", name="Budget Leads", max_return_percent=D(100), return_window_days=60
    )
    summit_tx = make_campaign(vertical, "summit-tx", buyer=summit)
    budget_tx = make_campaign(vertical, "budget-tx", buyer=budget)
    leads = [
        sell(summit_tx, publisher, "30.00", month + timedelta(days=day, hours=9))
        for day in (1, 2, 3)
    ] + [
        sell(budget_tx, publisher, "4.00", month + timedelta(days=day, hours=15))
        for day in (4, 5, 6)
    ]
    returned = leads[4]
    record_return(returned, buyer=budget, reason="bad_data", now=month + timedelta(days=7))
    return Book(vertical, publisher, key, summit, summit_tx, budget, budget_tx, leads, returned)


def finance_user(username: str = "fiona", password: str = "pw-finance-1") -> Any:
    """A staff user holding finance's permissions (as the ``Finance`` group grants)."""
    user = get_user_model().objects.create_user(username, password=password, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="reporting", codename__in=FINANCE_PERMS),
        *Permission.objects.filter(
            content_type__app_label="leads",
            codename__in=("add_ledgerentry", "view_ledgerentry", "add_return", "view_return"),
        ),
    )
    return get_user_model().objects.get(pk=user.pk)
