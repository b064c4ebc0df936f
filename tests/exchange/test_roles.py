"""Roles through the admin with real log-ins: what each group can open, change and run.

Account managers configure and operate; Finance reads, books returns and adjustments
and cannot touch campaigns or keys; Read-only sees everything but personal data and
changes nothing. Revealing personal data is its own permission, and recorded.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from exchange.models import ApiKey
from exchange.roles import ACCOUNT_MANAGERS, FINANCE, READ_ONLY, ROLE_PERMISSIONS, sync_roles
from leads.models import Lead, PiiReveal
from leads.models_compliance import DeletionRequest, Suppression
from tests.admin_forms import admin_log_in, change_form_data, run_action
from tests.factories import make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-7"
CAMPAIGN = "/admin/buyers/campaign/{}/change/"
CAMPAIGNS = "/admin/buyers/campaign/"
PUBLISHERS = "/admin/exchange/publisher/"
BUYERS = "/admin/buyers/buyer/"
KEYS = "/admin/exchange/apikey/"
LEADS = "/admin/leads/lead/"


@pytest.fixture
def world(django_user_model: Any) -> dict[str, Any]:
    vertical = make_vertical()
    publisher, _ = make_publisher()
    campaign = make_campaign(
        vertical,
        "summit-tx",
        ping_url="http://127.0.0.1:9/ping",
        priority=3,
        paused_reason="timeout rate 40% > 20%",
    )
    lead = Lead.objects.create(
        vertical=vertical,
        publisher=publisher,
        status="failed",
        data={"zip": "75001", "state": "TX"},
        pii={"email": "ann.lee@example.com", "phone": "+12145550143", "first_name": "Ann"},
    )
    users = {}
    for group in (ACCOUNT_MANAGERS, FINANCE, READ_ONLY):
        user = django_user_model.objects.create_user(
            group.lower().replace(" ", "-"), f"{group[:3]}@example.com", PASSWORD, is_staff=True
        )
        user.groups.add(Group.objects.get(name=group))
        users[group] = user
    return {
        "campaign": campaign,
        "buyer": campaign.buyer,
        "publisher": publisher,
        "key": publisher.keys.get(),
        "lead": lead,
        "users": users,
    }


def logged_in(client: Any, user: Any) -> Any:
    response = admin_log_in(client, user.username, PASSWORD)
    assert response.status_code == 302, response.content[:500]
    return client


def active_keys() -> int:
    return ApiKey.objects.filter(revoked_at__isnull=True).count()


def no_secret_in_cookies(client: Any) -> None:
    cookies = " ".join(morsel.value for morsel in client.cookies.values())
    assert "sy_" not in cookies
    assert "messages" not in client.cookies


def assert_cannot_operate(client: Any, world: dict[str, Any]) -> None:
    """Shared refusals of Finance and Read-only: no campaign change, no key minted or
    revoked, no test lead, no resume, no personal data."""
    campaign, lead = world["campaign"], world["lead"]
    page = client.get(CAMPAIGN.format(campaign.pk))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # a view-only page
    assert b"Send test lead" not in page.content
    assert client.post(CAMPAIGN.format(campaign.pk), {"priority": "99"}).status_code == 403
    campaign.refresh_from_db()
    assert campaign.priority == 3

    keys = active_keys()
    for changelist, action, pk in (
        (PUBLISHERS, "create_live_key", world["publisher"].pk),
        (PUBLISHERS, "create_test_key", world["publisher"].pk),
        (BUYERS, "create_buyer_key", world["buyer"].pk),
        (KEYS, "revoke", world["key"].pk),
        (CAMPAIGNS, "resume", campaign.pk),
    ):
        listing = client.get(changelist)
        assert listing.status_code == 200
        assert f'value="{action}"'.encode() not in listing.content
        run_action(client, changelist, action, [pk])
    assert active_keys() == keys
    world["key"].refresh_from_db()
    assert world["key"].revoked_at is None
    campaign.refresh_from_db()
    assert campaign.paused_reason  # still paused

    assert client.get(f"/admin/buyers/campaign/{campaign.pk}/test-lead/").status_code == 403
    assert client.get(f"{LEADS}{lead.pk}/reveal/").status_code == 403
    lead_page = client.get(f"{LEADS}{lead.pk}/change/")
    assert lead_page.status_code == 200
    assert b"ann.lee@example.com" not in lead_page.content
    assert b"Reveal personal data" not in lead_page.content
    run_action(client, LEADS, "replay", [lead.pk])
    lead.refresh_from_db()
    assert lead.status == "failed"
    assert not PiiReveal.objects.exists()


def test_the_three_roles_are_made_by_the_migrations() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "Account managers",
        "Finance",
        "Read-only",
    }


def test_an_account_manager_configures_and_operates(client: Any, world: dict[str, Any]) -> None:
    client = logged_in(client, world["users"][ACCOUNT_MANAGERS])
    campaign = world["campaign"]
    for url in ("/admin/", CAMPAIGNS, PUBLISHERS, BUYERS, KEYS, LEADS, "/admin/leads/ledgerentry/"):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/leads/delivery/failed/").status_code == 302
    assert client.get(f"/admin/buyers/campaign/{campaign.pk}/history/").status_code == 200
    assert client.get(f"/admin/buyers/campaign/{campaign.pk}/test-lead/").status_code == 200

    page = client.get(CAMPAIGN.format(campaign.pk))
    saved = client.post(CAMPAIGN.format(campaign.pk), change_form_data(page, priority="7"))
    assert saved.status_code == 302, saved.context and saved.context["adminform"].form.errors
    campaign.refresh_from_db()
    assert campaign.priority == 7

    run_action(client, CAMPAIGNS, "resume", [campaign.pk])
    campaign.refresh_from_db()
    assert campaign.paused_reason == ""

    keys = active_keys()
    shown = run_action(client, PUBLISHERS, "create_live_key", [world["publisher"].pk])
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    raw = shown.context["keys"][0][2]
    assert raw.startswith("sy_live_") and raw.encode() in shown.content
    no_secret_in_cookies(client)
    assert raw.encode() not in client.get(PUBLISHERS).content  # shown once
    buyer_keys = run_action(client, BUYERS, "create_buyer_key", [world["buyer"].pk])
    assert buyer_keys.context["keys"][0][2].startswith("sy_buyer_")
    assert active_keys() == keys + 2

    run_action(client, KEYS, "revoke", [world["key"].pk])
    world["key"].refresh_from_db()
    assert world["key"].revoked_at is not None

    # Operating, not reading personal data: that is a permission of its own.
    assert client.get(f"{LEADS}{world['lead'].pk}/reveal/").status_code == 403


def test_finance_reads_and_books_but_cannot_touch_campaigns_or_keys(
    client: Any, world: dict[str, Any]
) -> None:
    user = world["users"][FINANCE]
    client = logged_in(client, user)
    for url in ("/admin/", CAMPAIGNS, PUBLISHERS, KEYS, LEADS, "/admin/leads/ledgerentry/"):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/leads/return/").status_code == 200
    assert user.has_perm("leads.add_ledgerentry") and user.has_perm("leads.add_return")
    assert not user.has_perm("buyers.change_campaign")
    assert_cannot_operate(client, world)


def test_read_only_sees_the_admin_without_personal_data_and_changes_nothing(
    client: Any, world: dict[str, Any]
) -> None:
    user = world["users"][READ_ONLY]
    client = logged_in(client, user)
    for url in ("/admin/", CAMPAIGNS, PUBLISHERS, KEYS, LEADS, "/admin/leads/ledgerentry/"):
        assert client.get(url).status_code == 200, url
    assert_cannot_operate(client, world)
    assert not [p for p in user.get_all_permissions() if not p.split(".")[1].startswith("view_")]


def test_a_user_without_a_role_cannot_open_the_admin_lists(
    client: Any, world: dict[str, Any], django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("nobody", "n@example.com", PASSWORD, is_staff=True)
    client = logged_in(client, user)
    assert client.get(CAMPAIGNS).status_code == 403
    assert (
        client.get(f"/admin/buyers/campaign/{world['campaign'].pk}/test-lead/").status_code == 403
    )


def test_revealing_personal_data_needs_its_permission_and_is_recorded(
    client: Any, world: dict[str, Any]
) -> None:
    manager, lead = world["users"][ACCOUNT_MANAGERS], world["lead"]
    client = logged_in(client, manager)
    assert client.post(f"{LEADS}{lead.pk}/reveal/", {"reason": "dispute"}).status_code == 403
    assert not PiiReveal.objects.exists()

    manager.user_permissions.add(Permission.objects.get(codename="reveal_pii"))
    assert b"Reveal personal data" in client.get(f"{LEADS}{lead.pk}/change/").content
    asked = client.get(f"{LEADS}{lead.pk}/reveal/")
    assert asked.status_code == 200 and b"ann.lee@example.com" not in asked.content
    assert b"ann.lee" not in client.post(f"{LEADS}{lead.pk}/reveal/", {"reason": " "}).content

    shown = client.post(f"{LEADS}{lead.pk}/reveal/", {"reason": "buyer dispute #4411"})
    assert shown.status_code == 200
    assert b"ann.lee@example.com" in shown.content and b"+12145550143" in shown.content
    assert "no-store" in shown["Cache-Control"]
    record = PiiReveal.objects.get()
    assert (record.user, record.lead_id, record.reason) == (manager, lead.pk, "buyer dispute #4411")

    listing = client.get("/admin/leads/piireveal/")
    assert listing.status_code == 200 and b"buyer dispute #4411" in listing.content
    assert client.get("/admin/leads/piireveal/add/").status_code == 403


def test_sync_grants_a_permission_once_a_later_migration_creates_it() -> None:
    from django.contrib.contenttypes.models import ContentType

    assert "reporting.close_period" in ROLE_PERMISSIONS[FINANCE]
    finance = Group.objects.get(name=FINANCE)
    Permission.objects.filter(codename="close_period").delete()
    sync_roles()  # a missing permission is skipped without a word
    assert not finance.permissions.filter(codename="close_period").exists()

    content_type, _ = ContentType.objects.get_or_create(app_label="reporting", model="period")
    Permission.objects.create(codename="close_period", name="Close", content_type=content_type)
    sync_roles()
    assert finance.permissions.filter(codename="close_period").exists()
    assert (
        not Group.objects.get(name=ACCOUNT_MANAGERS)
        .permissions.filter(codename="close_period")
        .exists()
    )


def test_every_admin_action_declares_the_permissions_it_needs() -> None:
    undeclared = []
    for model, model_admin in admin.site._registry.items():
        for name, func in (
            (a if isinstance(a, str) else a.__name__, a) for a in model_admin.actions or []
        ):
            func = getattr(model_admin, name, None) if isinstance(func, str) else func
            if not getattr(func, "allowed_permissions", None):
                undeclared.append(f"{model.__name__}.{name}")
    assert undeclared == []


def test_an_account_manager_handles_suppressions_and_deletion_requests(
    client: Any, world: dict[str, Any]
) -> None:
    client = logged_in(client, world["users"][ACCOUNT_MANAGERS])
    assert client.get("/admin/leads/suppression/upload/").status_code == 200
    upload = SimpleUploadedFile(
        "dnc.csv", b"phone,email,reason\n(214) 555-0143,,dnc list\n", content_type="text/csv"
    )
    assert client.post("/admin/leads/suppression/upload/", {"file": upload}).status_code == 302
    assert Suppression.objects.filter(source="csv").count() == 1

    filed = client.post(
        "/admin/leads/deletionrequest/add/",
        {"phone": "", "email": "ann.lee@example.com", "requested_by": "ticket 7"},
    )
    assert filed.status_code == 302
    request = DeletionRequest.objects.get()
    run_action(client, "/admin/leads/deletionrequest/", "process_now", [request.pk])
    request.refresh_from_db()
    assert request.status == "done"


@pytest.mark.parametrize("role", [FINANCE, READ_ONLY])
def test_finance_and_read_only_cannot_suppress_or_file_deletions(
    client: Any, world: dict[str, Any], role: str
) -> None:
    client = logged_in(client, world["users"][role])
    assert client.get("/admin/leads/suppression/").status_code == 200  # they may read it
    upload = SimpleUploadedFile("dnc.csv", b"phone,email,reason\n,a@example.com,x\n")
    client.post("/admin/leads/suppression/upload/", {"file": upload})
    added = client.post("/admin/leads/deletionrequest/add/", {"email": "ann.lee@example.com"})
    assert added.status_code == 403
    assert not Suppression.objects.exists() and not DeletionRequest.objects.exists()
