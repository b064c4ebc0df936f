"""Finding a lead in the admin and reading its page: search by phone, email, partial id
and sub_id (through the keyed hashes), list filters, the ledger and the price story on
the lead's page, the replay button and the failed-deliveries list."""

from __future__ import annotations

import re
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from buyers.models import Campaign
from exchange.roles import ACCOUNT_MANAGERS, READ_ONLY
from leads.models import Delivery, Lead, LeadEvent
from leads.returns import record_return
from tests.leads.market import PASSWORD, Market, make_market, sell_lead, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(buyer_server: Any) -> Market:
    return make_market(buyer_server)


@pytest.fixture
def manager(django_user_model: Any) -> Client:
    staff(django_user_model, "amy", ACCOUNT_MANAGERS)
    client = Client()
    assert client.login(username="amy", password=PASSWORD)
    return client


@pytest.fixture
def reader(django_user_model: Any) -> Client:
    staff(django_user_model, "rita", READ_ONLY)
    client = Client()
    assert client.login(username="rita", password=PASSWORD)
    return client


def listed(client: Client, query: str) -> set[str]:
    """The full ids of the leads the lead list shows for ``query`` (from their titles)."""
    page = client.get(f"/admin/leads/lead/?{query}")
    assert page.status_code == 200
    return set(re.findall(r'class="short-id" href="[^"]+" title="([0-9a-f-]{36})"', page.text))


@pytest.fixture
def two_leads(api: Any, market: Market) -> tuple[Lead, Lead]:
    ann = sell_lead(api, market, "(214) 555-0143", "Ann.Lee@Example.com", sub_id="spring-42")
    bo = sell_lead(api, market, "(214) 555-0178", "bo.diaz@example.com", sub_id="autumn-7")
    return ann, bo


@pytest.mark.parametrize("written", ["214-555-0143", "+1 214 555 0143", "(214)5550143"])
def test_the_lead_list_finds_a_lead_by_its_phone_however_it_is_written(
    manager: Client, two_leads: tuple[Lead, Lead], written: str
) -> None:
    ann, _ = two_leads
    assert listed(manager, f"q={written}") == {str(ann.pk)}


def test_the_lead_list_finds_a_lead_by_its_email_in_any_case(
    manager: Client, two_leads: tuple[Lead, Lead]
) -> None:
    ann, bo = two_leads
    assert listed(manager, "q=+ann.lee@EXAMPLE.com+") == {str(ann.pk)}
    assert listed(manager, "q=bo.diaz@example.com") == {str(bo.pk)}
    assert listed(manager, "q=nobody@example.com") == set()


def test_the_lead_list_finds_a_lead_by_the_start_of_its_id_or_its_sub_id(
    manager: Client, two_leads: tuple[Lead, Lead]
) -> None:
    ann, bo = two_leads
    assert listed(manager, f"q={str(ann.pk)[:8]}") == {str(ann.pk)}
    assert listed(manager, f"q={str(bo.pk).upper()}") == {str(bo.pk)}
    assert listed(manager, "q=autumn-7") == {str(bo.pk)}


def test_the_lead_list_filters_by_buyer_campaign_vertical_publisher_status_and_test(
    api: Any, manager: Client, market: Market
) -> None:
    sold_to_budget = sell_lead(api, market, "(214) 555-0143", "ann@example.com")
    market.budget.body = {"status": "no", "error": "full"}
    unsold = sell_lead(api, market, "(214) 555-0178", "bo@example.com")
    assert (sold_to_budget.status, unsold.status) == ("sold", "rejected")
    budget = Campaign.objects.get(slug="budget")

    assert listed(manager, f"sold_campaign__buyer__id__exact={budget.buyer_id}") == {
        str(sold_to_budget.pk)
    }
    assert listed(manager, f"sold_campaign__id__exact={budget.pk}") == {str(sold_to_budget.pk)}
    assert listed(manager, "status__exact=rejected") == {str(unsold.pk)}
    both = {str(sold_to_budget.pk), str(unsold.pk)}
    assert listed(manager, f"vertical__id__exact={market.vertical.pk}") == both
    assert listed(manager, f"publisher__id__exact={unsold.publisher_id}") == both
    assert listed(manager, "is_test__exact=1") == set()
    page = manager.get("/admin/leads/lead/").text
    for title in ("By buyer", "By sold campaign", "By status", "By is test"):
        assert title in page


def test_the_lead_page_shows_its_ledger_and_why_it_sold_below_the_best_bid(
    api: Any, manager: Client, market: Market
) -> None:
    lead = sell_lead(api, market, "(214) 555-0143", "ann@example.com")
    assert lead.price == D("6.58")

    page = manager.get(f"/admin/leads/lead/{lead.pk}/change/").text
    assert "Ledger entries" in page and "$6.58" in page and "6.5800" not in page
    story = re.search(r'<ul class="waterfall">(.*?)</ul>', page, re.S)
    assert story is not None
    text = re.sub(r"<[^>]+>", "", story.group(1))
    assert "best bid $10.06 by campaign summit" in text
    assert "summit (Summit Buyer) at $10.06: rejected the post (not in our area)" in text
    assert "budget (Budget Buyer) at $6.58: accepted the post — sold at $6.58" in text
    assert "Sold $3.48 below the best bid" in text


def test_a_returned_lead_shows_its_return_and_the_credit(
    api: Any, manager: Client, market: Market
) -> None:
    lead = sell_lead(api, market, "(214) 555-0143", "ann@example.com")
    record_return(lead, buyer=lead.sold_campaign.buyer, reason="bad_data")

    page = manager.get(f"/admin/leads/lead/{lead.pk}/change/").text
    assert "Bad or fake data" in page  # the return's row
    assert "the buyer is credited $6.58 and the publisher debited $5.26" in page
    assert "−$6.58" in page  # the return's ledger row: a credit to the buyer


def failed_lead(api: Any, market: Market, phone: str) -> Lead:
    market.summit.status = market.budget.status = 500
    Campaign.objects.update(max_attempts=1)
    lead = sell_lead(api, market, phone, f"{phone[-4:]}@example.com")
    assert lead.status == "failed"
    return lead


def test_an_account_manager_replays_a_failed_lead_from_its_page(
    api: Any, manager: Client, market: Market
) -> None:
    lead = failed_lead(api, market, "(214) 555-0143")
    url = f"/admin/leads/lead/{lead.pk}/replay/"
    page = manager.get(f"/admin/leads/lead/{lead.pk}/change/").text
    assert f'action="{url}"' in page and "csrfmiddlewaretoken" in page

    assert manager.get(url).status_code == 405  # a link or a crawler changes nothing
    answer = manager.post(url, follow=True)
    assert answer.status_code == 200
    assert "replayed: it will be delivered shortly" in answer.text
    lead.refresh_from_db()
    assert lead.status != "failed"
    assert LeadEvent.objects.filter(lead=lead, note="replayed by amy").exists()
    # A second click (the lead is no longer failed) replays nothing.
    again = manager.post(url, follow=True)
    assert "was not replayed" in again.text


def test_the_replay_button_needs_csrf(api: Any, market: Market, django_user_model: Any) -> None:
    lead = failed_lead(api, market, "(214) 555-0143")
    staff(django_user_model, "amy", ACCOUNT_MANAGERS)
    client = Client(enforce_csrf_checks=True)
    client.login(username="amy", password=PASSWORD)
    assert client.post(f"/admin/leads/lead/{lead.pk}/replay/").status_code == 403
    lead.refresh_from_db()
    assert lead.status == "failed"


def test_read_only_staff_get_no_replay_button_and_are_refused(
    api: Any, reader: Client, market: Market
) -> None:
    lead = failed_lead(api, market, "(214) 555-0143")
    delivery = lead.deliveries.get(rank=1)
    assert "/replay/" not in reader.get(f"/admin/leads/lead/{lead.pk}/change/").text
    assert "/replay/" not in reader.get(f"/admin/leads/delivery/{delivery.pk}/change/").text

    assert reader.post(f"/admin/leads/lead/{lead.pk}/replay/").status_code == 403
    assert reader.post(f"/admin/leads/delivery/{delivery.pk}/replay/").status_code == 403
    lead.refresh_from_db()
    assert lead.status == "failed"


def test_the_delivery_page_replays_its_failed_lead(
    api: Any, manager: Client, market: Market
) -> None:
    lead = failed_lead(api, market, "(214) 555-0143")
    delivery = lead.deliveries.get(rank=2)
    answer = manager.post(f"/admin/leads/delivery/{delivery.pk}/replay/")
    assert answer.status_code == 302
    assert answer["Location"] == f"/admin/leads/delivery/{delivery.pk}/change/"
    lead.refresh_from_db()
    assert lead.status == "pending"


def test_the_failed_list_leaves_out_deliveries_whose_lead_sold_later(
    api: Any, manager: Client, market: Market
) -> None:
    # Summit's post fails for good, the lead sells to Budget next: not a failed lead.
    market.summit.status = 500
    Campaign.objects.update(max_attempts=1)
    sold = sell_lead(api, market, "(214) 555-0143", "ann@example.com")
    assert sold.status == "sold"
    assert Delivery.objects.filter(lead=sold, status="failed").exists()
    still_failed = failed_lead(api, market, "(214) 555-0178")

    page = manager.get("/admin/leads/delivery/failed/", follow=True).text
    shown = set(re.findall(r'class="short-id" href="[^"]+" title="([0-9a-f-]{36})"', page))
    assert shown == {str(still_failed.pk)}


def test_lists_show_short_ids_money_with_currency_and_times_to_the_second(
    api: Any, manager: Client, market: Market
) -> None:
    lead = sell_lead(api, market, "(214) 555-0143", "ann@example.com")
    listing = manager.get("/admin/leads/lead/").text
    assert f'title="{lead.pk}">{str(lead.pk)[:8]}</a>' in listing
    assert "$6.58" in listing and "6.5800" not in listing
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", listing)
    deliveries = manager.get("/admin/leads/delivery/").text
    assert f'title="{lead.pk}">{str(lead.pk)[:8]}</a>' in deliveries
    ledger = manager.get("/admin/leads/ledgerentry/").text
    assert "$6.58" in ledger and "$5.26" in ledger


def test_the_lead_and_delivery_lists_cost_the_same_queries_for_two_leads_or_five(
    api: Any, manager: Client, market: Market
) -> None:
    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert manager.get(url).status_code == 200
        return len(captured)

    for n in range(2):
        sell_lead(api, market, f"(214) 555-{300 + n:04d}", f"p{n}@example.com")
    few = {url: queries(url) for url in ("/admin/leads/lead/", "/admin/leads/delivery/")}
    for n in range(2, 5):
        sell_lead(api, market, f"(214) 555-{300 + n:04d}", f"p{n}@example.com")
    many = {url: queries(url) for url in ("/admin/leads/lead/", "/admin/leads/delivery/")}
    assert many == few
