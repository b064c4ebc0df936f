"""An endpoint's page says when its circuit is open, and an account manager closes it
there with a button (a POST with CSRF); read-only staff see the hint, not the button."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from buyers.models import CircuitEvent, CircuitState, Endpoint
from exchange.roles import ACCOUNT_MANAGERS, READ_ONLY
from tests.factories import make_campaign, make_vertical
from tests.leads.market import PASSWORD, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint() -> Endpoint:
    campaign = make_campaign(
        make_vertical(),
        "summit-tx",
        ping_url="http://127.0.0.1:9/ping",
        post_url="http://127.0.0.1:9/post",
    )
    ping = campaign.endpoints.get(kind="ping")
    CircuitState.objects.create(
        endpoint=ping,
        status="open",
        consecutive_failures=5,
        opened_at=timezone.now() - timedelta(minutes=2),
        retry_at=timezone.now() - timedelta(minutes=1),
    )
    return ping


def signed_in(django_user_model: Any, name: str, group: str, **client: Any) -> Client:
    staff(django_user_model, name, group)
    browser = Client(**client)
    assert browser.login(username=name, password=PASSWORD)
    return browser


def test_an_open_circuit_is_explained_on_its_endpoints_page(
    endpoint: Endpoint, django_user_model: Any
) -> None:
    manager = signed_in(django_user_model, "amy", ACCOUNT_MANAGERS)
    page = manager.get(f"/admin/buyers/endpoint/{endpoint.pk}/change/").text

    assert 'id="circuit-hint"' in page and "<strong>Open</strong>" in page
    # Its probe time has passed: the page says so rather than showing a stale time.
    assert "next probe due since" in page and "with the next call" in page
    assert f'action="/admin/buyers/endpoint/{endpoint.pk}/close-circuit/"' in page


def test_an_account_manager_closes_the_circuit_from_the_endpoint_page(
    endpoint: Endpoint, django_user_model: Any
) -> None:
    manager = signed_in(django_user_model, "amy", ACCOUNT_MANAGERS)
    url = f"/admin/buyers/endpoint/{endpoint.pk}/close-circuit/"

    assert manager.get(url).status_code == 405
    answer = manager.post(url, follow=True)

    assert "Circuit closed" in answer.text
    assert CircuitState.objects.get(endpoint=endpoint).status == "closed"
    event = CircuitEvent.objects.filter(endpoint=endpoint).first()
    assert event is not None and event.reason == "closed by amy"
    assert 'id="circuit-hint"' not in answer.text  # closed: no hint, no button


def test_closing_needs_the_csrf_token(endpoint: Endpoint, django_user_model: Any) -> None:
    manager = signed_in(django_user_model, "amy", ACCOUNT_MANAGERS, enforce_csrf_checks=True)
    answer = manager.post(f"/admin/buyers/endpoint/{endpoint.pk}/close-circuit/")

    assert answer.status_code == 403
    assert CircuitState.objects.get(endpoint=endpoint).status == "open"


def test_read_only_staff_see_the_hint_but_cannot_close(
    endpoint: Endpoint, django_user_model: Any
) -> None:
    reader = signed_in(django_user_model, "rita", READ_ONLY)
    page = reader.get(f"/admin/buyers/endpoint/{endpoint.pk}/change/").text
    assert 'id="circuit-hint"' in page and "close-circuit" not in page

    answer = reader.post(f"/admin/buyers/endpoint/{endpoint.pk}/close-circuit/")
    assert answer.status_code == 403
    assert CircuitState.objects.get(endpoint=endpoint).status == "open"
