"""Deletion requests are records: filed by API, admin or command, processed by a task
that erases the person's personal data everywhere, keeps the money, and suppresses them."""

from __future__ import annotations

import json
from decimal import Decimal as D
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from werkzeug import Request, Response

from leads.models import DeletionRequest, Lead, LedgerEntry, Suppression
from leads.tasks import process_deletion_request
from tests.factories import PING_LEAD, direct_post, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

ZELDA = {
    **PING_LEAD,
    "first_name": "Zelda",
    "last_name": "Quackenbush",
    "email": "zelda.quackenbush@example.com",
    "phone": "(312) 555-0199",
    "address": "77 Wisteria Lane",
    "dob": "1984-03-09",
    "consent_text": "I, Zelda Quackenbush, agree to be contacted.",
}
BOB = {**ZELDA, "first_name": "Robert", "last_name": "Brown", "email": "rb@example.org",
       "phone": "(469) 555-0123", "address": "1 Main St", "consent_text": "I agree."}  # fmt: skip
ZELDA_TRACES = ["Zelda", "Quackenbush", "zelda.quackenbush", "555-0199", "5550199", "Wisteria"]


def echoing_buyer(request: Request) -> Response:
    """Accepts, quoting the lead's name back (as real buyers' answers do)."""
    sent = request.get_data(as_text=True)
    return Response(
        json.dumps({"status": "ok", "lead_id": "B-1", "echo": sent}),
        content_type="application/json",
    )


def refusing_buyer(request: Request) -> Response:
    body = json.loads(request.get_data(as_text=True))
    reason = f"duplicate of {body.get('name', '')} at {body.get('email', '')}"
    return Response(json.dumps({"status": "no", "error": reason}), content_type="application/json")


@pytest.fixture
def market(buyer_server: Any) -> dict[str, Any]:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    mapping = [
        {"to": "name", "template": "{first_name} {last_name}"},
        {"to": "email", "from": "email"},
        {"to": "consent", "from": "consent_text"},
    ]
    for slug, price, handler in (
        ("picky", "30.00", refusing_buyer),
        ("plain", "20.00", echoing_buyer),
    ):
        buyer_server.expect_request(f"/{slug}").respond_with_handler(handler)
        campaign = make_campaign(
            vertical, slug, post_url=buyer_server.url_for(f"/{slug}"),
            pricing_model="fixed", fixed_price=price, dedupe_days=0,
        )  # fmt: skip
        campaign.endpoints.filter(kind="post").update(mapping=mapping)
    return {"key": key, "server": buyer_server}


def every_row_of_every_table() -> str:
    """The whole database as text, table by table, as a raw dump would show it."""
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608  (our own table names)
            dump.append(f"{table}: {cursor.fetchall()!r}")
    return "\n".join(dump)


def file_by_api(api: Any, key: str, body: dict) -> Any:
    with mock.patch("leads.tasks.process_deletion_request.apply_async"):
        return api.post(
            "/api/v1/privacy/deletions", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )


def test_a_deletion_request_leaves_no_trace_of_the_person_keeps_the_money_and_suppresses(
    api: Any, market: dict, django_capture_on_commit_callbacks: Any
) -> None:
    sold = direct_post(api, market["key"], ZELDA).json()
    assert sold["status"] == "sold"  # picky refused (quoting her), plain bought
    other = direct_post(api, market["key"], BOB).json()
    assert other["status"] == "sold"
    sent = [request.get_data(as_text=True) for request, _ in market["server"].log]
    assert any("Quackenbush" in body for body in sent)  # the buyers did get her data
    money = LedgerEntry.objects.aggregate(c=Sum("charge"), p=Sum("payout"), m=Sum("margin"))

    answer = file_by_api(api, market["key"], {"email": "Zelda.Quackenbush@example.com"})

    assert answer.status_code == 202
    request_id = answer.json()["id"]
    assert answer.json()["status"] == "received"
    assert process_deletion_request(request_id) == "done"
    follow = api.get(
        f"/api/v1/privacy/deletions/{request_id}", HTTP_AUTHORIZATION=f"Bearer {market['key']}"
    ).json()
    assert follow["status"] == "done" and follow["leads_erased"] == 1
    dump = every_row_of_every_table()
    for trace in ZELDA_TRACES:
        assert trace not in dump, trace
    assert "Robert" in Lead.objects.get(pk=other["lead_id"]).pii["first_name"]
    assert LedgerEntry.objects.aggregate(c=Sum("charge"), p=Sum("payout"), m=Sum("margin")) == money
    assert Suppression.objects.filter(source="deletion").count() == 1
    again = direct_post(api, market["key"], ZELDA).json()
    assert again["reasons"] == ["suppressed"]


def test_a_deletion_request_needs_a_valid_phone_or_email(api: Any, market: dict) -> None:
    for body, field in (({}, "phone"), ({"phone": "12"}, "phone"), ({"email": "zz"}, "email")):
        answer = file_by_api(api, market["key"], body)
        assert answer.status_code == 422
        assert field in answer.json()["error"]["fields"]
    assert not DeletionRequest.objects.exists()


def test_a_request_is_followed_only_by_the_key_that_filed_it(api: Any, market: dict) -> None:
    request_id = file_by_api(api, market["key"], {"phone": "312-555-0199"}).json()["id"]
    _, other_key = make_publisher("other")

    mine = api.get(
        f"/api/v1/privacy/deletions/{request_id}", HTTP_AUTHORIZATION=f"Bearer {market['key']}"
    )
    theirs = api.get(
        f"/api/v1/privacy/deletions/{request_id}", HTTP_AUTHORIZATION=f"Bearer {other_key}"
    )

    assert mine.status_code == 200 and mine.json()["status"] == "received"
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "not_found"


def test_running_the_task_twice_processes_the_request_once(api: Any, market: dict) -> None:
    direct_post(api, market["key"], ZELDA)
    request_id = file_by_api(api, market["key"], {"phone": "312 555 0199"}).json()["id"]

    process_deletion_request(request_id)
    process_deletion_request(request_id)

    assert Suppression.objects.count() == 1
    assert DeletionRequest.objects.get().leads_erased == 1


def test_the_admin_files_a_request_and_shows_it_done_with_its_counts(
    api: Any, market: dict, admin_client: Any
) -> None:
    direct_post(api, market["key"], ZELDA)
    with mock.patch("leads.tasks.process_deletion_request.apply_async"):
        page = admin_client.post(
            "/admin/leads/deletionrequest/add/",
            {"phone": "", "email": "zelda.quackenbush@example.com", "requested_by": "ticket 42"},
        )
    assert page.status_code == 302
    filed = DeletionRequest.objects.get()
    assert (filed.source, filed.requested_by, filed.status) == ("admin", "ticket 42", "received")

    admin_client.post(
        "/admin/leads/deletionrequest/",
        {"action": "process_now", "_selected_action": [str(filed.pk)]},
    )

    filed.refresh_from_db()
    assert filed.status == "done" and filed.leads_erased == 1 and filed.person == {}
    listing = admin_client.get("/admin/leads/deletionrequest/").content.decode()
    assert "ticket 42" in listing and "done" in listing
    bad = admin_client.post("/admin/leads/deletionrequest/add/", {"phone": "1", "email": ""})
    assert bad.status_code == 200 and "must be a valid phone number" in bad.content.decode()


def test_erase_person_files_a_request_and_processes_it(api: Any, market: dict) -> None:
    direct_post(api, market["key"], ZELDA)
    out = StringIO()

    with mock.patch("leads.tasks.process_deletion_request.apply_async"):
        call_command("erase_person", phone="(312) 555-0199", by="legal team", stdout=out)

    filed = DeletionRequest.objects.get()
    assert (filed.source, filed.requested_by, filed.status) == ("command", "legal team", "done")
    assert f"deletion request {filed.pk}: done; erased personal data of 1 lead(s)" in out.getvalue()
    assert Lead.objects.get().pii == {}
