"""The admin shows money as people read it: two decimals and thousands separators,
not every stored place (the lead, its bids and deliveries, and the ledger keep four)."""

from __future__ import annotations

import re
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils.html import strip_tags

from buyers.models import Campaign
from leads.models import Bid, Delivery
from tests.reporting.finance import OCTOBER, make_book, sell

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    get_user_model().objects.create_superuser("root", password="pw-root-1")
    client = Client()
    client.login(username="root", password="pw-root-1")
    return client


def test_lead_list_and_page_show_prices_with_two_decimals(admin_client: Client) -> None:
    book = make_book()
    lead = sell(book.summit_tx, book.publisher, "1234.5", OCTOBER)
    bid = Bid.objects.create(
        lead=lead, campaign=book.summit_tx, outcome="accepted", price=D("1234.5"), rank=1
    )
    Delivery.objects.create(lead=lead, campaign=book.summit_tx, bid=bid, rank=1, price=D("1234.5"))

    listing = admin_client.get("/admin/leads/lead/").content.decode()
    assert "1,234.50" in listing and "987.60" in listing
    assert "1234.5000" not in listing

    page = admin_client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert page.count("1,234.50") >= 3  # the lead's price, its bid, its delivery
    assert "1234.5000" not in page and "1234.50" not in page.replace("1,234.50", "")


def test_ledger_list_shows_two_decimals_but_keeps_sub_cent_digits(admin_client: Client) -> None:
    book = make_book()
    sell(book.summit_tx, book.publisher, "12.3456", OCTOBER)

    listing = admin_client.get("/admin/leads/ledgerentry/").content.decode()
    assert "30.00" in listing and "30.0000" not in listing
    assert "12.3456" in listing


def test_campaign_list_shows_the_minimum_bid_in_dollars_and_cents(admin_client: Client) -> None:
    book = make_book()
    Campaign.objects.filter(pk=book.summit_tx.pk).update(pricing_model="dynamic", min_bid=D("2"))

    listing = admin_client.get("/admin/buyers/campaign/").content.decode()
    assert "bid ≥ $2.00<" in listing


def test_delivery_and_ledger_entry_pages_show_dollars_and_cents(admin_client: Client) -> None:
    from leads.models import LedgerEntry

    book = make_book()
    lead = sell(book.summit_tx, book.publisher, "1234.5", OCTOBER)
    bid = Bid.objects.create(
        lead=lead, campaign=book.summit_tx, outcome="accepted", price=D("1234.5"), rank=1
    )
    delivery = Delivery.objects.create(
        lead=lead, campaign=book.summit_tx, bid=bid, rank=1, price=D("1234.5")
    )
    entry = LedgerEntry.objects.filter(lead=lead).first()
    assert entry is not None
    for url in (
        f"/admin/leads/delivery/{delivery.pk}/change/",
        f"/admin/leads/ledgerentry/{entry.pk}/change/",
    ):
        page = admin_client.get(url).content.decode()
        assert "$1,234.50" in page, url
        assert "1234.5000" not in page and "1,234.5000" not in page, url


def test_a_sold_leads_page_names_every_amount_in_dollars(
    admin_client: Client, api: Any, buyer_server: Any
) -> None:
    from tests.leads.market import make_market, sell_lead

    lead = sell_lead(api, make_market(buyer_server), "(214) 555-0143", "ann.lee@example.com")
    page = admin_client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert "sold at $5.26 payout" in page  # the lead's history (80% of 6.58)
    assert "summit" in page and "accepted $10.06" in page  # its bids
    assert "sale $6.58/$5.26" in page  # its ledger rows
    assert not re.search(r"(?<![$\d.,])\b\d+\.\d{2}\b", strip_tags(page).replace("%", "")), (
        re.findall(r".{30}(?<![$\d.,])\b\d+\.\d{2}\b", strip_tags(page))
    )


def test_publisher_list_shows_the_floor_and_a_fixed_payout_in_dollars(
    admin_client: Client,
) -> None:
    from tests.factories import make_publisher

    make_publisher("acme", floor=D("1"), payout_model="fixed", payout_amount=D("7.5"))
    listing = admin_client.get("/admin/exchange/publisher/").content.decode()
    assert ">$1.00<" in listing and "$7.50 fixed" in listing
