"""The suppression list, fed by API, CSV upload and command: a suppressed person is
answered ``suppressed`` at post and never reaches a buyer."""

from __future__ import annotations

import json
from decimal import Decimal as D
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from werkzeug import Response

from buyers.models import Buyer
from exchange.services import create_api_key
from leads.models import Lead, Suppression
from plumbing.pii import email_hash, phone_hash
from tests.factories import direct_post, make_campaign, make_publisher, make_vertical
from tests.factories import ping as send_ping
from tests.factories import post as send_post

pytestmark = pytest.mark.django_db

PHONE, EMAIL = "(214) 555-0143", "ann.lee@example.com"  # POST_LEAD's person


def bid(request: Any) -> Response:
    body = {"result": "accepted", "bid": "20.00", "bid_id": "R1"}
    return Response(json.dumps(body), content_type="application/json")


def accept(request: Any) -> Response:
    return Response(json.dumps({"status": "ok", "lead_id": "B-1"}), content_type="application/json")


@pytest.fixture
def market(buyer_server: Any) -> dict[str, Any]:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    buyer_server.expect_request("/ping").respond_with_handler(bid)
    buyer_server.expect_request("/post").respond_with_handler(accept)
    campaign = make_campaign(
        vertical,
        "summit",
        ping_url=buyer_server.url_for("/ping"),
        post_url=buyer_server.url_for("/post"),
    )
    _, buyer_key = create_api_key(kind="buyer", buyer=campaign.buyer)
    return {"key": key, "buyer_key": buyer_key, "server": buyer_server}


def suppress_by_api(api: Any, key: str, body: dict[str, Any]) -> Any:
    return api.post("/api/v1/suppressions", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")


def test_a_publisher_suppresses_a_person_by_api_and_only_hashes_are_kept(
    api: Any, market: dict
) -> None:
    answer = suppress_by_api(api, market["key"], {"phone": PHONE, "reason": "asked to stop"})

    assert answer.status_code == 201
    assert answer.json()["status"] == "suppressed"
    entry = Suppression.objects.get()
    assert entry.phone_hash == phone_hash("+12145550143") and entry.email_hash == ""
    assert (entry.reason, entry.source) == ("asked to stop", "api")
    assert entry.added_by.startswith("publisher acme (key sy_live_")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM leads_suppression")
        assert "5550143" not in repr(cursor.fetchall())


def test_a_suppression_by_api_stops_the_next_direct_post_before_any_buyer(
    api: Any, market: dict
) -> None:
    assert suppress_by_api(api, market["buyer_key"], {"email": EMAIL.upper()}).status_code == 201

    answer = direct_post(api, market["key"])

    assert answer.status_code == 200
    assert answer.json()["status"] == "rejected"
    assert answer.json()["reasons"] == ["suppressed"]
    assert market["server"].log == []  # not even a ping


def test_a_suppressed_person_is_refused_at_post_after_a_ping_and_no_buyer_gets_the_post(
    api: Any, market: dict
) -> None:
    ping_id = send_ping(api, market["key"]).json()["ping_id"]
    suppress_by_api(api, market["key"], {"phone": "214.555.0143"})

    answer = send_post(api, market["key"], ping_id)

    assert answer.json()["reasons"] == ["suppressed"]
    assert [r.path for r, _ in market["server"].log] == ["/ping"]  # the ping had no PII
    assert Lead.objects.get(pk=ping_id).status == "rejected"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "555"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"reason": "no person given"}, "phone"),
        ({"phone": PHONE, "reason": "x" * 201}, "reason"),
        ({"phone": PHONE, "name": "Ann"}, "name"),
        ({"phone": 2145550143}, "phone"),
    ],
)
def test_bad_suppression_input_gets_a_422_naming_the_field(
    api: Any, market: dict, body: dict, field: str
) -> None:
    answer = suppress_by_api(api, market["key"], body)

    assert answer.status_code == 422
    assert field in answer.json()["error"]["fields"]
    assert not Suppression.objects.exists()


def test_the_suppression_api_needs_a_key(api: Any, market: dict) -> None:
    answer = api.post("/api/v1/suppressions", {"phone": PHONE}, format="json")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


def test_a_csv_uploaded_in_the_admin_stops_the_next_post(
    api: Any, market: dict, admin_client: Any
) -> None:
    csv = f"phone,email,reason\n{PHONE},,dnc list\n,someone@example.org,opt-out\n"
    upload = SimpleUploadedFile("dnc.csv", csv.encode(), content_type="text/csv")

    page = admin_client.post("/admin/leads/suppression/upload/", {"file": upload})

    assert page.status_code == 302
    assert Suppression.objects.filter(source="csv").count() == 2
    assert direct_post(api, market["key"]).json()["reasons"] == ["suppressed"]
    assert market["server"].log == []


def test_a_csv_with_bad_lines_imports_nothing_and_names_every_bad_line(admin_client: Any) -> None:
    csv = "phone,email,reason\n2145550143,,ok\n12,,bad phone\n,,\n,x@,bad email\n"
    upload = SimpleUploadedFile("dnc.csv", csv.encode(), content_type="text/csv")

    page = admin_client.post("/admin/leads/suppression/upload/", {"file": upload})

    assert page.status_code == 200
    text = page.content.decode()
    assert "Nothing was imported" in text
    assert "line 3: phone: must be a valid phone number" in text
    assert "line 5: email:" in text
    assert "line 2" not in text and "line 4" not in text
    assert not Suppression.objects.exists()


def test_the_admin_lists_suppressions_and_finds_one_by_the_phone_typed(admin_client: Any) -> None:
    from leads.suppression import suppress

    suppress(phone=PHONE, reason="called in", source="admin", added_by="admin: ann")
    suppress(email="bob@example.com", reason="other", source="admin")

    page = admin_client.get("/admin/leads/suppression/", {"q": "214-555-0143"})

    assert page.status_code == 200
    assert "called in" in page.content.decode() and "other" not in page.content.decode()
    assert admin_client.get("/admin/leads/suppression/upload/").status_code == 200


def test_the_command_imports_a_csv_that_stops_the_next_post(
    api: Any, market: dict, tmp_path: Path
) -> None:
    path = tmp_path / "dnc.csv"
    path.write_text(f"phone,email,reason\n,{EMAIL},unsubscribed\n")
    out = StringIO()

    call_command("suppress", "import", str(path), stdout=out)

    assert "suppressed 1 person(s)" in out.getvalue()
    assert Suppression.objects.get().email_hash == email_hash(EMAIL)
    assert direct_post(api, market["key"]).json()["reasons"] == ["suppressed"]
    assert market["server"].log == []


def test_the_command_refuses_a_bad_csv_whole_and_exports_hashes_only(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("phone,email,reason\n2145550143,,a\nnope,,b\n")
    with pytest.raises(CommandError, match="line 3: phone: must be a valid phone number"):
        call_command("suppress", "import", str(bad))
    assert not Suppression.objects.exists()

    good = tmp_path / "good.csv"
    good.write_text("phone,email,reason\n2145550143,ann.lee@example.com,a\n")
    call_command("suppress", "import", str(good), stdout=StringIO())
    out = tmp_path / "out.csv"
    call_command("suppress", "export", str(out), stderr=StringIO())

    lines = out.read_text().splitlines()
    assert lines[0] == "phone_hash,email_hash,reason,source,added_by,created_at"
    assert lines[1].startswith(f"{phone_hash('+12145550143')},{email_hash(EMAIL)},a,command,")
    assert "ann.lee" not in out.read_text() and "5550143" not in out.read_text()


def test_a_buyer_key_of_another_buyer_works_too(api: Any, market: dict) -> None:
    other = Buyer.objects.create(slug="other", name="Other")
    _, key = create_api_key(kind="buyer", buyer=other)
    answer = suppress_by_api(api, key, {"email": EMAIL})
    assert answer.status_code == 201
    assert Suppression.objects.get().added_by.startswith(f"buyer #{other.pk}")


def test_a_form_or_xml_suppression_is_taken_like_json(api: Any, market: dict) -> None:
    auth = f"Bearer {market['key']}"
    form = api.post(
        "/api/v1/suppressions",
        f"phone={PHONE}&reason=asked",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=auth,
    )
    xml = api.post(
        "/api/v1/suppressions",
        f"<suppression><email>{EMAIL}</email></suppression>",
        content_type="application/xml",
        HTTP_AUTHORIZATION=auth,
    )
    deletion = api.post(
        "/api/v1/privacy/deletions",
        f"email={EMAIL}",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=auth,
    )

    assert form.status_code == 201, form.json()
    assert form.json()["reason"] == "asked"
    assert xml.status_code == 201, xml.json()
    assert deletion.status_code == 202, deletion.json()
    assert Suppression.objects.filter(phone_hash=phone_hash("+12145550143")).exists()
    assert Suppression.objects.filter(email_hash=email_hash(EMAIL)).exists()
