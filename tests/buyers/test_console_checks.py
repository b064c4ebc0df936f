"""The test console says, before sending, whether the sample lead would reach the
campaign: its filters rule by rule, schedule, caps, circuits, duplicates, suppression."""

from __future__ import annotations

import html
import json
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from buyers.caps import CapSpec, reserve
from buyers.models import Campaign, Cap, CircuitState, Endpoint
from leads import claims
from leads.suppression import suppress
from plumbing.pii import email_hash, phone_hash
from tests.factories import POST_LEAD, make_campaign, make_vertical

pytestmark = pytest.mark.django_db

LEAD = {**POST_LEAD, "phone": "+12145550143"}


@pytest.fixture
def manager(client: Any, django_user_model: Any) -> Any:
    client.force_login(django_user_model.objects.create_superuser("alice", "a@example.com", "pw"))
    return client


@pytest.fixture
def campaign() -> Campaign:
    return make_campaign(
        make_vertical(),
        "summit-tx",
        ping_url="http://127.0.0.1:9/ping",
        post_url="http://127.0.0.1:9/post",
        filters=[
            {"field": "state", "op": "in", "value": ["TX", "OK"]},
            {"field": "credit_tier", "op": "in", "value": ["excellent", "good"]},
        ],
    )


def checks(manager: Any, campaign: Campaign, lead: dict[str, Any]) -> list[tuple[str, ...]]:
    """The console's check table for ``lead`` (shown without sending): (topic, rule,
    result, why) per row."""
    answer = manager.post(
        f"/admin/buyers/campaign/{campaign.pk}/test-lead/",
        {"target": "post", "lead": json.dumps(lead), "action": "preview"},
    )
    assert answer.status_code == 200
    table = re.search(r'<table id="test-checks">(.*?)</table>', answer.content.decode(), re.S)
    assert table is not None, "no checks on the page"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S)[1:]
    return [
        tuple(html.unescape(re.sub(r"<[^>]+>|\s+", " ", c)).strip() for c in row.split("</td>")[:4])
        for row in rows
    ]


def row(table: list[tuple[str, ...]], topic: str, rule_start: str = "") -> tuple[str, ...]:
    found = [r for r in table if r[0] == topic and r[1].startswith(rule_start)]
    assert len(found) == 1, table
    return found[0]


def test_a_lead_that_fits_passes_every_check(manager: Any, campaign: Campaign) -> None:
    table = checks(manager, campaign, LEAD)

    assert all(result == "✓ passes" for _, _, result, _ in table), table
    assert row(table, "filters", "state in [TX, OK]")[2] == "✓ passes"
    assert row(table, "filters", "credit_tier in")[2] == "✓ passes"
    assert row(table, "auction")[3] == "eligible"
    assert row(table, "suppression")[2] == "✓ passes"


def test_each_filter_rule_is_judged_on_its_own(manager: Any, campaign: Campaign) -> None:
    table = checks(manager, campaign, {**LEAD, "state": "CA"})

    state = row(table, "filters", "state in [TX, OK]")
    assert state[2:] == ("✗ fails", 'state in [TX, OK]: got "CA"')
    assert row(table, "filters", "credit_tier in")[2] == "✓ passes"
    # The auction's own verdict agrees, with its own words.
    auction = row(table, "auction")
    assert auction[2] == "✗ fails" and auction[3] == 'filter: state in [TX, OK]: got "CA"'


def test_a_closed_schedule_fails_before_sending(manager: Any, campaign: Campaign) -> None:
    today = timezone.localtime(timezone.now(), ZoneInfo(campaign.buyer.timezone)).weekday()
    other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(today + 3) % 7]
    Campaign.objects.filter(pk=campaign.pk).update(schedule={other_day: "08:00-20:00"})

    schedule = row(checks(manager, campaign, LEAD), "schedule")
    assert schedule[2] == "✗ fails" and schedule[3].startswith("closed:")


def test_a_reached_cap_fails_before_sending(manager: Any, campaign: Campaign) -> None:
    cap = Cap.objects.create(campaign=campaign, period="day", max_leads=1)
    assert reserve([CapSpec.from_cap(cap, campaign.buyer.timezone)], 1, timezone.now())

    cap_row = row(checks(manager, campaign, LEAD), "caps")
    assert cap_row[1:] == ("campaign cap per day", "✗ fails", "1 of 1 leads used this day")


def test_an_open_circuit_fails_before_sending(manager: Any, campaign: Campaign) -> None:
    post = Endpoint.objects.get(campaign=campaign, kind="post")
    CircuitState.objects.create(endpoint=post, status="open", retry_at=timezone.now())

    circuit = row(checks(manager, campaign, LEAD), "circuit", "post")
    assert circuit[2] == "✗ fails"


def test_a_suppressed_person_fails_before_sending(manager: Any, campaign: Campaign) -> None:
    suppress(email=LEAD["email"].upper(), reason="asked", source="admin")

    table = checks(manager, campaign, LEAD)
    assert row(table, "suppression")[2:] == ("✗ fails", "the phone or email is suppressed")
    other = checks(manager, campaign, {**LEAD, "email": "x@example.com", "phone": "+12145550178"})
    assert row(other, "suppression")[2] == "✓ passes"


def test_a_person_held_by_another_lead_is_a_duplicate(manager: Any, campaign: Campaign) -> None:
    hashes = [phone_hash(LEAD["phone"]), email_hash(LEAD["email"])]
    assert claims.claim_person(uuid.uuid4(), campaign.vertical_id, hashes, timezone.now())

    duplicate = row(checks(manager, campaign, LEAD), "duplicates", "no other lead")
    assert duplicate[2:] == ("✗ fails", "another lead holds this person")
