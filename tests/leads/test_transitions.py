"""The lead's state machine: every status change goes through ``leads.transitions``."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Response

from leads.choices import LeadStatus
from leads.models import IllegalTransition, Lead, LeadEvent
from leads.transitions import move_lead
from tests.factories import make_campaign, make_publisher, make_vertical, ping, post

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
APPS = ("plumbing", "buyers", "exchange", "leads", "reporting")
STATE_MACHINE = ROOT / "leads" / "transitions.py"


def _status_changes(path: Path) -> list[str]:
    """Lines of ``path`` that change a lead's status other than by creating the lead:
    a ``Lead.objects….update(status=…)`` / ``bulk_update``, an assignment to a lead's
    ``.status``, or a save naming ``status`` in ``update_fields``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = ast.unparse(node.func.value)
            keywords = {k.arg for k in node.keywords}
            on_leads = receiver.startswith("Lead.objects") or (
                "lead" in receiver.split(".")[0] and receiver.split(".")[1:2] != ["deliveries"]
            )
            if node.func.attr == "update" and "status" in keywords and on_leads:
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}")
            if node.func.attr == "bulk_update" and receiver.startswith("Lead.objects"):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}")
            if node.func.attr == "save" and "status" in ast.unparse(node) and on_leads:
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}")
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if (
                        isinstance(sub, ast.Attribute)
                        and sub.attr == "status"
                        and "lead" in ast.unparse(sub.value).lower()
                    ):
                        found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_no_code_outside_the_state_machine_changes_a_leads_status() -> None:
    offenders = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts and path != STATE_MACHINE:
                offenders += _status_changes(path)
    assert offenders == []


def test_the_check_finds_a_hand_made_status_change(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "Lead.objects.filter(pk=1).update(status='sold')\n"
        "lead.status = 'sold'\n"
        "lead.save(update_fields=['status'])\n"
        "lead.deliveries.filter(pk=1).update(status='skipped')\n"
    )
    assert len(_status_changes(sample)) == 3


def accepting_buyer(server: Any) -> None:
    bid = {"result": "accepted", "bid": "20.00", "bid_id": "R1"}
    server.expect_request("/ping").respond_with_response(
        Response(json.dumps(bid), content_type="application/json")
    )
    server.expect_request("/post").respond_with_response(
        Response(json.dumps({"status": "ok"}), content_type="application/json")
    )


def test_a_post_leaves_its_pinged_to_posting_step_in_the_timeline(
    api: Any, buyer_server: Any
) -> None:
    accepting_buyer(buyer_server)
    vertical = make_vertical()
    _, key = make_publisher()
    url = buyer_server.url_for
    make_campaign(vertical, "c1", ping_url=url("/ping"), post_url=url("/post"))
    ping_id = ping(api, key).json()["ping_id"]

    assert post(api, key, ping_id).json()["status"] == "sold"

    steps = list(LeadEvent.objects.filter(lead_id=ping_id).values_list("from_status", "to_status"))
    assert steps == [
        ("", LeadStatus.PINGED),
        (LeadStatus.PINGED, LeadStatus.POSTING),
        (LeadStatus.POSTING, LeadStatus.SOLD),
    ]


def test_a_move_the_table_forbids_is_refused_and_writes_nothing(
    api: Any, buyer_server: Any
) -> None:
    accepting_buyer(buyer_server)
    vertical = make_vertical()
    _, key = make_publisher()
    make_campaign(
        vertical,
        "c1",
        ping_url=buyer_server.url_for("/ping"),
        post_url=buyer_server.url_for("/post"),
    )
    lead = Lead.objects.get(pk=ping(api, key).json()["ping_id"])

    with pytest.raises(IllegalTransition):
        move_lead(lead, LeadStatus.SOLD)

    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.PINGED
    assert lead.events.count() == 1


def test_of_two_movers_from_the_same_status_only_one_moves(api: Any, buyer_server: Any) -> None:
    accepting_buyer(buyer_server)
    vertical = make_vertical()
    _, key = make_publisher()
    make_campaign(
        vertical,
        "c1",
        ping_url=buyer_server.url_for("/ping"),
        post_url=buyer_server.url_for("/post"),
    )
    lead_id = ping(api, key).json()["ping_id"]
    first, second = Lead.objects.get(pk=lead_id), Lead.objects.get(pk=lead_id)

    assert move_lead(first, LeadStatus.POSTING, note="first") is not None
    assert move_lead(second, LeadStatus.POSTING, note="second") is None
    assert list(first.events.values_list("note", flat=True)) == ["offer 16.00", "first"]
