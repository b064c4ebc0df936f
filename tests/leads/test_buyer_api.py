"""Buyers return leads and list their purchases with their own API keys."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone
from werkzeug import Response

from buyers.models import Buyer
from exchange.services import create_api_key
from leads.models import Lead, LedgerEntry
from tests.factories import direct_post, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db


@pytest.fixture
def sale(api: Any, buyer_server: Any) -> dict[str, Any]:
    vertical = make_vertical()
    _, publisher_key = make_publisher()
    buyer_server.expect_request("/b/post").respond_with_handler(
        lambda r: Response(
            json.dumps({"status": "ok", "lead_id": "BUY-9"}), content_type="application/json"
        )
    )
    campaign = make_campaign(
        vertical,
        "b",
        post_url=buyer_server.url_for("/b/post"),
        pricing_model="fixed",
        fixed_price="25.00",
    )
    answer = direct_post(api, publisher_key).json()
    assert answer["status"] == "sold"
    _, buyer_key = create_api_key(kind="buyer", buyer=campaign.buyer)
    return {"lead_id": answer["lead_id"], "buyer_key": buyer_key, "publisher_key": publisher_key}


def give_back(api: Any, key: str, lead_id: str, reason: str = "bad_data") -> Any:
    return api.post(
        "/api/v1/returns",
        {"lead_id": lead_id, "reason": reason},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def net(**filters: Any) -> dict[str, D]:
    return LedgerEntry.objects.filter(**filters).aggregate(
        charge=Sum("charge"), payout=Sum("payout"), margin=Sum("margin")
    )


def test_a_return_within_the_window_reverses_the_money_to_the_cent(api: Any, sale: dict) -> None:
    assert net()["charge"] == D("25.00")

    answer = give_back(api, sale["buyer_key"], sale["lead_id"])

    assert answer.status_code == 201
    assert answer.json() == {"lead_id": sale["lead_id"], "status": "returned", "credit": "25.00"}
    assert net() == {"charge": D("0"), "payout": D("0"), "margin": D("0")}
    assert Lead.objects.get(pk=sale["lead_id"]).status == "returned"


def test_a_lead_cannot_be_returned_twice(api: Any, sale: dict) -> None:
    give_back(api, sale["buyer_key"], sale["lead_id"])

    again = give_back(api, sale["buyer_key"], sale["lead_id"])

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_returned"
    assert LedgerEntry.objects.count() == 2


def test_a_late_return_is_refused(api: Any, sale: dict) -> None:
    Lead.objects.filter(pk=sale["lead_id"]).update(sold_at=timezone.now() - timedelta(days=8))

    answer = give_back(api, sale["buyer_key"], sale["lead_id"])

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "return_window_closed"
    assert net()["charge"] == D("25.00")


def test_another_buyer_cannot_return_the_lead(api: Any, sale: dict) -> None:
    other = Buyer.objects.create(slug="other", name="Other")
    _, other_key = create_api_key(kind="buyer", buyer=other)

    answer = give_back(api, other_key, sale["lead_id"])

    assert answer.status_code == 404
    assert net()["charge"] == D("25.00")


def test_an_unknown_reason_is_422(api: Any, sale: dict) -> None:
    answer = give_back(api, sale["buyer_key"], sale["lead_id"], reason="meh")
    assert answer.status_code == 422
    assert "reason" in answer.json()["error"]["fields"]


@pytest.mark.parametrize("body", [{"reason": "other"}, {"lead_id": ["x"], "reason": "other"}])
def test_a_return_without_a_lead_id_is_422_naming_it(api: Any, sale: dict, body: dict) -> None:
    answer = api.post(
        "/api/v1/returns", body, format="json", HTTP_AUTHORIZATION=f"Bearer {sale['buyer_key']}"
    )
    assert answer.status_code == 422
    assert "lead_id" in answer.json()["error"]["fields"]


def test_a_publisher_key_cannot_return_leads(api: Any, sale: dict) -> None:
    answer = give_back(api, sale["publisher_key"], sale["lead_id"])
    assert answer.status_code == 401


def test_a_buyer_lists_what_it_bought_filtered_by_date(api: Any, sale: dict) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {sale['buyer_key']}"}

    listed = api.get("/api/v1/buyer/leads", **auth).json()
    later = api.get("/api/v1/buyer/leads", {"sold_after": "2999-01-01T00:00:00Z"}, **auth).json()

    assert listed["count"] == 1
    row = listed["results"][0]
    assert (row["lead_id"], row["price"], row["campaign"], row["reference"]) == (
        sale["lead_id"],
        "25.00",
        "b",
        "BUY-9",
    )
    assert "phone" not in json.dumps(row) and "email" not in json.dumps(row)
    assert later["count"] == 0


def test_a_bad_date_filter_is_a_json_error(api: Any, sale: dict) -> None:
    answer = api.get(
        "/api/v1/buyer/leads",
        {"sold_after": "yesterday"},
        HTTP_AUTHORIZATION=f"Bearer {sale['buyer_key']}",
    )
    assert answer.status_code in (400, 422)
    assert "sold_after" in answer.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("sold_after", "status", "count"),
    [
        # Valid ISO text, but before the first / after the last UTC datetime: was a 500
        # (OverflowError) on SQLite.
        ("0001-01-01T00:00:00+14:00", 422, None),
        ("9999-12-31T23:59:59-14:00", 422, None),
        # A UTC offset past PostgreSQL's 15:59: was a 500 (DataError) on PostgreSQL.
        ("2000-01-01T00:00:00-23:30", 200, 1),
    ],
)
def test_date_filters_at_the_edges_of_the_calendar_and_of_utc_offsets(
    api: Any, sale: dict, sold_after: str, status: int, count: int | None
) -> None:
    answer = api.get(
        "/api/v1/buyer/leads",
        {"sold_after": sold_after},
        HTTP_AUTHORIZATION=f"Bearer {sale['buyer_key']}",
    )
    assert answer.status_code == status, answer.content
    if count is None:
        assert answer.json()["error"]["fields"]["sold_after"]
    else:
        assert answer.json()["count"] == count


def test_a_return_note_holding_nul_is_422(api: Any, sale: dict) -> None:
    # PostgreSQL cannot store NUL in text: this was a 500 there.
    answer = api.post(
        "/api/v1/returns",
        {"lead_id": sale["lead_id"], "reason": "bad_data", "note": "see\x00attached"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {sale['buyer_key']}",
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"] == {
        "note": ["text of 500 characters at most, without NUL"]
    }
    assert Lead.objects.get(pk=sale["lead_id"]).status == "sold"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-5"}, "offset"),
    ],
)
def test_a_page_size_or_offset_out_of_range_is_422_naming_it(
    api: Any, sale: dict, query: dict, field: str
) -> None:
    answer = api.get("/api/v1/buyer/leads", query, HTTP_AUTHORIZATION=f"Bearer {sale['buyer_key']}")

    assert answer.status_code == 422, answer.content
    assert answer.json()["error"]["code"] == "invalid"
    assert list(answer.json()["error"]["fields"]) == [field]


def test_a_page_size_in_range_is_honoured(api: Any, sale: dict) -> None:
    answer = api.get(
        "/api/v1/buyer/leads", {"limit": "1"}, HTTP_AUTHORIZATION=f"Bearer {sale['buyer_key']}"
    )

    assert answer.status_code == 200
    assert len(answer.json()["results"]) == 1
