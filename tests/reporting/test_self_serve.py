"""Self-serve statements: a publisher or a buyer reads its own with its API key."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from exchange.services import create_api_key
from tests.factories import make_publisher
from tests.reporting.finance import make_book

pytestmark = pytest.mark.django_db
OCT = "from=2026-10-01&to=2026-10-31"


@pytest.fixture
def book() -> Any:
    return make_book()


def test_a_publisher_reads_its_own_statement_with_its_key(book: Any, api: Any) -> None:
    response = api.get(
        f"/api/v1/statement?{OCT}", HTTP_AUTHORIZATION=f"Bearer {book.publisher_key}"
    )

    assert response.status_code == 200
    assert response.json() == {
        "party": "publisher",
        "name": "Acme",
        "time_zone": "UTC",
        "period_from": "2026-10-01",
        "period_to": "2026-10-31",
        "leads_sold": 6,
        "gross": "81.60",
        "returns_count": 1,
        "returns": "-3.20",
        "adjustments_count": 0,
        "adjustments": "0.00",
        "net": "78.40",
    }


def test_a_buyer_reads_its_statement_and_its_csv_with_its_buyer_key(book: Any, api: Any) -> None:
    _, key = create_api_key(kind="buyer", buyer=book.budget)
    totals = api.get(f"/api/v1/statement?{OCT}", HTTP_X_API_KEY=key)
    export = api.get(f"/api/v1/statement?{OCT}&format=csv", HTTP_X_API_KEY=key)
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))

    assert (totals.json()["party"], totals.json()["net"]) == ("buyer", "8.00")
    assert export["Content-Type"].startswith("text/csv")
    assert rows[0] == ["date", "lead_id", "kind", "amount", "remnant"] and len(rows) == 6
    assert rows[-1] == ["total", "", "", "8.00", ""]


def test_bad_dates_and_missing_keys_are_json_errors(book: Any, api: Any) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {book.publisher_key}"}
    bad = api.get("/api/v1/statement?from=2026-13-01", **auth)
    reversed_ = api.get("/api/v1/statement?from=2026-10-31&to=2026-10-01", **auth)
    anonymous = api.get(f"/api/v1/statement?{OCT}")

    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid"
    assert reversed_.status_code == 422
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"


def test_a_test_key_reads_no_statement(book: Any, api: Any) -> None:
    _, test_key = create_api_key(kind="test", publisher=book.publisher)

    assert api.get(f"/api/v1/statement?{OCT}", HTTP_X_API_KEY=test_key).status_code == 401


def test_the_statement_is_in_the_openapi_schema(db: Any, api: Any) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/v1/statement"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "format"}
    assert "text/csv" in operation["responses"]["200"]["content"]


def test_an_error_asked_for_as_csv_is_still_json(book: Any, api: Any) -> None:
    bad = api.get(
        "/api/v1/statement?format=csv&from=2000-01-01",
        HTTP_AUTHORIZATION=f"Bearer {book.publisher_key}",
    )
    anonymous = api.get("/api/v1/statement?format=csv")

    assert bad.status_code == 422 and bad["Content-Type"].startswith("application/json")
    assert bad.json()["error"]["code"] == "invalid"
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"


def test_an_unknown_statement_format_is_a_422_naming_the_formats(api: Any) -> None:
    publisher, _ = make_publisher()
    _, key = create_api_key(kind="live", publisher=publisher)
    answer = api.get(f"/api/v1/statement?{OCT}&format=xml", HTTP_X_API_KEY=key)

    assert answer.status_code == 422
    assert answer.json()["error"]["fields"]["format"] == ["must be one of: csv, json"]
