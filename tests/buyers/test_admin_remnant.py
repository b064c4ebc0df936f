"""The campaign admin's remnant settings: fallback, price modifiers, throttle, quality
filters, and the test console's price preview."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest

from buyers.models import Campaign
from tests.buyers.test_admin import CHANGE, form_data, shows
from tests.factories import POST_LEAD, make_campaign, make_vertical

pytestmark = pytest.mark.django_db

MODIFIERS = [
    {"when": {"field": "state", "op": "in", "value": ["CA", "NY"]}, "add": "2.00"},
    {"when": {"field": "credit_tier", "op": "eq", "value": "excellent"}, "multiply": "1.10"},
]


@pytest.fixture
def manager(client: Any, django_user_model: Any) -> Any:
    client.force_login(django_user_model.objects.create_superuser("al", "al@example.com", "pw"))
    return client


@pytest.fixture
def fixed() -> Campaign:
    return make_campaign(
        make_vertical(),
        "leftovers",
        post_url="https://buyer.example/post",
        pricing_model="fixed",
        fixed_price="10.00",
    )


def save(manager: Any, campaign: Campaign, **changes: Any) -> Any:
    return manager.post(CHANGE.format(campaign.pk), form_data(campaign, **changes))


def test_a_fallback_with_modifiers_a_throttle_and_quality_filters_saves(
    manager: Any,
    fixed: Campaign,
) -> None:
    answer = save(
        manager,
        fixed,
        fallback="on",
        price_modifiers=MODIFIERS,
        throttle={"pings": 300, "per": "5m"},
        filters=[{"field": "quality.disposable_email", "op": "eq", "value": False}],
    )

    assert answer.status_code == 302
    fixed.refresh_from_db()
    assert (fixed.fallback, fixed.price_modifiers, fixed.throttle) == (
        True,
        MODIFIERS,
        {"pings": 300, "per": "5m"},
    )


def test_an_unchanged_campaign_keeps_empty_modifiers_and_throttle(
    manager: Any,
    fixed: Campaign,
) -> None:
    assert save(manager, fixed).status_code == 302
    fixed.refresh_from_db()
    assert (fixed.price_modifiers, fixed.throttle) == ([], {})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"throttle": {"pings": 300, "per": "fortnight"}}, 'per must be a duration such as "1s"'),
        ({"throttle": {"pings": 0, "per": "1s"}}, "pings must be a whole number from 1 to 1000"),
        (
            {"price_modifiers": [{"when": {"field": "shoe", "op": "eq", "value": 1}, "add": "1"}]},
            "modifier 1: when: rule 1 (shoe): unknown field 'shoe'",
        ),
        (
            {"price_modifiers": [{"add": "1", "multiply": "2"}]},
            "give exactly one of add or multiply",
        ),
        (
            {"pricing_model": "dynamic", "fixed_price": "", "fallback": "on"},
            "A fallback campaign buys at a fixed price.",
        ),
    ],
)
def test_it_refuses_remnant_settings_it_cannot_run(
    manager: Any,
    fixed: Campaign,
    changes: dict,
    problem: str,
) -> None:
    answer = save(manager, fixed, **changes)

    assert answer.status_code == 200
    assert shows(answer, problem)
    fixed.refresh_from_db()
    assert (fixed.fallback, fixed.throttle, fixed.price_modifiers) == (False, {}, [])


def test_the_test_console_previews_the_modified_price(
    manager: Any,
    fixed: Campaign,
) -> None:
    Campaign.objects.filter(pk=fixed.pk).update(price_modifiers=MODIFIERS)
    lead = {**POST_LEAD, "state": "CA", "zip": "90001", "credit_tier": "excellent"}

    answer = manager.post(
        f"/admin/buyers/campaign/{fixed.pk}/test-lead/",
        {"target": "post", "lead": json.dumps(lead), "action": "preview"},
    )

    text = html.unescape(answer.content.decode())
    assert answer.status_code == 200
    assert '<td data-field="price">13.20 USD</td>' in text  # (10.00 + 2.00) x 1.10
    assert "<td>state in [CA, NY]: +2.00</td>" in text
    assert "<td>credit_tier eq excellent: x1.10</td>" in text
