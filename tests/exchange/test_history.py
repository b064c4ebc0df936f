"""Change history of configuration: who changed what and when, shown as a diff in the
admin, restorable; config imports are named as such."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from buyers.models import Campaign, Credential
from exchange.configfile import export_config, import_config
from exchange.models import ApiKey
from exchange.roles import ACCOUNT_MANAGERS, READ_ONLY
from exchange.services import revoke_api_keys
from tests.admin_forms import admin_log_in, change_form_data
from tests.factories import make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-7"
CAMPAIGN = "/admin/buyers/campaign/{}/"


def staff(django_user_model: Any, name: str, group: str) -> Any:
    user = django_user_model.objects.create_user(name, f"{name}@example.com", PASSWORD)
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def campaign() -> Campaign:
    return make_campaign(
        make_vertical(), "summit-tx", ping_url="http://127.0.0.1:9/ping", priority=3
    )


def test_a_campaign_changed_in_the_admin_and_by_import_shows_both_and_restores(
    client: Any, campaign: Campaign, django_user_model: Any
) -> None:
    alice = staff(django_user_model, "alice", ACCOUNT_MANAGERS)
    assert admin_log_in(client, "alice", PASSWORD).status_code == 302
    page = client.get(f"{CAMPAIGN.format(campaign.pk)}change/")
    response = client.post(
        f"{CAMPAIGN.format(campaign.pk)}change/", change_form_data(page, priority="7")
    )
    assert response.status_code == 302

    exported = export_config().text
    assert "priority: 7" in exported
    import_config(exported.replace("priority: 7", "priority: 9"))
    campaign.refresh_from_db()
    assert campaign.priority == 9

    versions = list(campaign.history.order_by("-history_id"))
    latest, by_admin = versions[0], versions[1]
    assert (latest.priority, latest.history_user, latest.history_change_reason) == (
        9,
        None,
        "config import",
    )
    assert (by_admin.priority, by_admin.history_user) == (7, alice)

    history = client.get(f"{CAMPAIGN.format(campaign.pk)}history/")
    assert history.status_code == 200
    text = history.content.decode()
    assert "config import" in text and "alice" in text
    assert "Priority</strong>: 7 → 9" in text and "Priority</strong>: 3 → 7" in text

    # Restore the first version: its form, as the history page shows it, saved.
    original = versions[-1]
    url = f"{CAMPAIGN.format(campaign.pk)}history/{original.history_id}/"
    form = client.get(url)
    assert form.status_code == 200
    restored = client.post(url, change_form_data(form))
    assert restored.status_code == 302
    campaign.refresh_from_db()
    assert campaign.priority == 3
    assert campaign.history.latest().history_user == alice


def test_an_import_by_a_named_user_records_that_user(
    campaign: Campaign, django_user_model: Any, tmp_path: Any
) -> None:
    bob = staff(django_user_model, "bob", ACCOUNT_MANAGERS)
    path = tmp_path / "exchange.yaml"
    path.write_text(export_config().text.replace("priority: 3", "priority: 5"))

    call_command("exchange_config", "import", str(path), "--user", "bob", stdout=StringIO())

    latest = campaign.history.latest()
    assert (latest.priority, latest.history_user, latest.history_change_reason) == (
        5,
        bob,
        "config import",
    )


def test_read_only_sees_history_but_cannot_restore(
    client: Any, campaign: Campaign, django_user_model: Any
) -> None:
    campaign.priority = 8
    campaign.save()
    staff(django_user_model, "rita", READ_ONLY)
    assert admin_log_in(client, "rita", PASSWORD).status_code == 302
    assert client.get(f"{CAMPAIGN.format(campaign.pk)}history/").status_code == 200
    first = campaign.history.earliest()
    url = f"{CAMPAIGN.format(campaign.pk)}history/{first.history_id}/"
    page = client.get(url)
    assert page.status_code == 200

    assert client.post(url, change_form_data(page)).status_code == 403
    campaign.refresh_from_db()
    assert campaign.priority == 8


def test_history_never_holds_secrets_or_key_hashes(campaign: Campaign) -> None:
    credential = Credential.objects.create(
        buyer=campaign.buyer, name="api", type="bearer", secret="tok-very-secret"
    )
    credential.secret = "tok-rotated"
    credential.save()
    publisher, raw = make_publisher()
    revoke_api_keys(ApiKey.objects.filter(publisher=publisher))

    historical = credential.history.model
    assert "secret" not in {f.name for f in historical._meta.fields}
    assert credential.history.count() == 2
    key_history = ApiKey.objects.get(publisher=publisher).history
    assert "key_hash" not in {f.name for f in key_history.model._meta.fields}
    assert key_history.latest().revoked_at is not None  # the revoke is in the history
    assert "callback_secret" not in {f.name for f in publisher.history.model._meta.fields}
