"""Two-factor log-in to the admin (TOTP) and throttling of password guessing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from exchange.roles import ACCOUNT_MANAGERS, FINANCE
from tests.admin_forms import admin_log_in

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-7"


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def required(settings: Any) -> None:
    settings.ADMIN_2FA = "required"
    # django-otp also makes a device wait 1 s, 2 s, 4 s... after each wrong code; these
    # tests type a wrong code and then the right one at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def code(device: TOTPDevice, drift: int = 0) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, drift):06d}"


def member(django_user_model: Any, name: str, group: str) -> Any:
    user = django_user_model.objects.create_user(name, f"{name}@example.com", PASSWORD)
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=group))
    return user


def test_a_required_superuser_sets_up_an_authenticator_then_logs_in_with_it(
    client: Any, django_user_model: Any, required: None
) -> None:
    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    assert admin_log_in(client, "root", PASSWORD).status_code == 302

    index = client.get("/admin/")
    assert index.status_code == 302 and index["Location"].startswith("/admin/two-factor/")
    assert client.get("/admin/buyers/campaign/").status_code == 302
    setup = client.get("/admin/two-factor/")
    assert setup.status_code == 200
    assert b"<svg" in setup.content and b"otp-secret" in setup.content
    assert "no-store" in setup["Cache-Control"]
    device = TOTPDevice.objects.get(user__username="root", confirmed=False)
    assert client.get("/admin/two-factor/").context["secret"] == setup.context["secret"]

    wrong = client.post("/admin/two-factor/", {"otp_token": "000000"})
    assert b"not right" in wrong.content
    done = client.post("/admin/two-factor/", {"otp_token": code(device)})
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed

    client.post("/admin/logout/")
    without = admin_log_in(client, "root", PASSWORD)
    assert without.status_code == 200
    assert b"Enter the code your authenticator app shows" in without.content
    assert admin_log_in(client, "root", PASSWORD, "123").status_code == 200
    assert admin_log_in(client, "root", PASSWORD, code(device, drift=1)).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_finance_must_use_a_second_factor_when_required_and_account_managers_need_not(
    client: Any, django_user_model: Any, required: None
) -> None:
    member(django_user_model, "fiona", FINANCE)
    member(django_user_model, "adam", ACCOUNT_MANAGERS)
    admin_log_in(client, "fiona", PASSWORD)
    assert client.get("/admin/leads/ledgerentry/")["Location"].startswith("/admin/two-factor/")
    # Not only the admin: reports and any other page a session opens.
    assert client.get("/reports/")["Location"].startswith("/admin/two-factor/")
    assert client.get("/api/v1/health").status_code == 200  # the API is key-authenticated
    client.post("/admin/logout/")
    admin_log_in(client, "adam", PASSWORD)
    assert client.get("/admin/buyers/campaign/").status_code == 200


def test_optional_lets_a_superuser_in_with_a_password_alone(
    client: Any, django_user_model: Any, settings: Any
) -> None:
    settings.ADMIN_2FA = "optional"
    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    admin_log_in(client, "root", PASSWORD)
    assert client.get("/admin/").status_code == 200


def test_repeated_wrong_passwords_lock_that_username_from_that_address(
    client: Any, django_user_model: Any, settings: Any
) -> None:
    settings.LOGIN_FAILURE_LIMIT = 5
    member(django_user_model, "adam", ACCOUNT_MANAGERS)
    for _ in range(5):
        refused = admin_log_in(client, "adam", "guess")
        assert refused.status_code == 200
        assert b"Too many failed" not in refused.content

    locked = admin_log_in(client, "adam", PASSWORD)
    assert locked.status_code == 200
    assert b"Too many failed log-ins for this account from your address" in locked.content
    assert client.get("/admin/").status_code == 302  # not logged in

    elsewhere = client.post(
        "/admin/login/?next=/admin/",
        {"username": "adam", "password": PASSWORD},
        REMOTE_ADDR="10.1.2.3",
    )
    assert elsewhere.status_code == 302


def test_a_success_clears_the_failure_count(client: Any, django_user_model: Any) -> None:
    member(django_user_model, "adam", ACCOUNT_MANAGERS)
    for _ in range(4):
        admin_log_in(client, "adam", "guess")
    assert admin_log_in(client, "adam", PASSWORD).status_code == 302
    client.post("/admin/logout/")
    for _ in range(4):
        admin_log_in(client, "adam", "guess")
    assert admin_log_in(client, "adam", PASSWORD).status_code == 302


def test_a_right_code_typed_during_the_wait_after_a_wrong_one_is_told_to_wait(
    client: Any, django_user_model: Any, settings: Any
) -> None:
    settings.ADMIN_2FA = "required"  # with django-otp's own wait after a wrong code (1 s…)
    root = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(root)
    client.get("/admin/two-factor/")
    device = TOTPDevice.objects.get(user=root)
    wrong = "000000" if code(device) != "000000" else "111111"

    first = client.post("/admin/two-factor/", {"otp_token": wrong}).content.decode()
    assert "That code is not right" in first

    second = client.post("/admin/two-factor/", {"otp_token": code(device)})
    page = second.content.decode()
    assert second.status_code == 200
    assert "Too many wrong codes in a row: wait" in page and "not right" not in page


def test_a_wrong_code_on_its_own_is_called_wrong_not_throttled(
    client: Any, django_user_model: Any, settings: Any
) -> None:
    settings.ADMIN_2FA = "required"
    root = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(root)
    client.get("/admin/two-factor/")
    device = TOTPDevice.objects.get(user=root)
    wrong = "000000" if code(device) != "000000" else "111111"

    page = client.post("/admin/two-factor/", {"otp_token": wrong}).content.decode()
    assert "That code is not right" in page and "Too many" not in page


def test_the_set_up_page_offers_a_log_out(
    client: Any, django_user_model: Any, required: None
) -> None:
    root = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(root)
    page = client.get("/admin/two-factor/").content.decode()
    form = re.search(r'<form method="post" action="([^"]+)" id="second-factor-logout">', page)
    assert form and form.group(1) == "/admin/logout/"
    assert client.post(form.group(1)).status_code in (200, 302)
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/two-factor/").status_code == 302  # to the log-in page


def test_a_right_code_at_log_in_while_the_authenticator_waits_is_told_to_wait(
    client: Any, django_user_model: Any, settings: Any
) -> None:
    settings.ADMIN_2FA = "required"
    root = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    device = TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
    # Three wrong codes in a row just now: django-otp refuses every code for a while.
    device.throttling_failure_count = 3
    device.throttling_failure_timestamp = timezone.now()
    device.save()

    page = admin_log_in(client, "root", PASSWORD, code(device))
    assert page.status_code == 200
    errors = page.context["form"].non_field_errors()
    assert len(errors) == 1
    assert errors[0].startswith("Verification temporarily disabled because of 3 failed code(s)")
    assert "try again in" in errors[0] and "not right" not in page.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_wrong_code_at_log_in_outside_the_wait_is_called_wrong(
    client: Any, django_user_model: Any, settings: Any
) -> None:
    settings.ADMIN_2FA = "required"
    root = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    device = TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
    wrong = "000000" if code(device) != "000000" else "111111"
    page = admin_log_in(client, "root", PASSWORD, wrong).content.decode()
    assert "That authenticator code is not right" in page and "temporarily" not in page
