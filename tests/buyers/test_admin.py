"""The campaign admin: rules validated on save, versioned mappings, health at a glance."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from buyers.caps import window_start
from buyers.models import (
    Buyer,
    Campaign,
    Cap,
    CapCounter,
    CircuitState,
    Credential,
    Endpoint,
    MappingVersion,
)
from tests.factories import make_campaign, make_vertical

pytestmark = pytest.mark.django_db

CHANGE = "/admin/buyers/campaign/{}/change/"


@pytest.fixture
def manager(client: Any, django_user_model: Any) -> Any:
    user = django_user_model.objects.create_superuser("alice", "alice@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def campaign() -> Campaign:
    return make_campaign(
        make_vertical(),
        "summit-tx",
        ping_url="https://buyer.example/ping",
        post_url="https://buyer.example/post",
        filters=[{"field": "state", "op": "in", "value": ["TX"]}],
    )


def form_data(campaign: Campaign, **changes: Any) -> dict[str, Any]:
    """What the change form posts for ``campaign`` as it is, with ``changes`` applied.
    JSON fields may be given as Python values."""
    data: dict[str, Any] = {
        "buyer": campaign.buyer_id,
        "vertical": campaign.vertical_id,
        "slug": campaign.slug,
        "name": campaign.name,
        "is_active": "on" if campaign.is_active else "",
        "pricing_model": campaign.pricing_model,
        "fixed_price": campaign.fixed_price or "",
        "min_bid": campaign.min_bid,
        "max_bid": campaign.max_bid,
        "priority": campaign.priority,
        "filters": campaign.filters,
        "schedule": campaign.schedule,
        "dedupe_days": campaign.dedupe_days,
        "max_attempts": campaign.max_attempts,
        "retry_backoff": campaign.retry_backoff,
        "max_timeout_rate": "",
        "max_p95_latency_ms": "",
    }
    endpoints = list(campaign.endpoints.order_by("kind"))
    data.update(
        {
            "endpoints-TOTAL_FORMS": len(endpoints),
            "endpoints-INITIAL_FORMS": len(endpoints),
            "endpoints-MIN_NUM_FORMS": 0,
            "endpoints-MAX_NUM_FORMS": 2,
            "caps-TOTAL_FORMS": 0,
            "caps-INITIAL_FORMS": 0,
            "caps-MIN_NUM_FORMS": 0,
            "caps-MAX_NUM_FORMS": 1000,
        }
    )
    for i, endpoint in enumerate(endpoints):  # "ping" sorts after "post": posts are 0
        prefix = f"endpoints-{i}-"
        data.update(
            {
                f"{prefix}id": endpoint.pk,
                f"{prefix}campaign": campaign.pk,
                f"{prefix}kind": endpoint.kind,
                f"{prefix}url": endpoint.url,
                f"{prefix}test_url": endpoint.test_url,
                f"{prefix}method": endpoint.method,
                f"{prefix}format": endpoint.format,
                f"{prefix}timeout_ms": endpoint.timeout_ms,
                f"{prefix}credential": endpoint.credential_id or "",
                f"{prefix}headers": endpoint.headers,
                f"{prefix}mapping": endpoint.mapping,
                f"{prefix}response": endpoint.response,
            }
        )
    data.update(changes)
    return {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in data.items()}


def save(manager: Any, campaign: Campaign, **changes: Any) -> Any:
    return manager.post(CHANGE.format(campaign.pk), form_data(campaign, **changes))


def shows(response: Any, text: str) -> bool:
    """The page shows ``text`` (as the browser would, once unescaped)."""
    return html.escape(text) in response.content.decode()


def has_html(response: Any, fragment: str) -> bool:
    return fragment in response.content.decode()


def ping_index(campaign: Campaign) -> int:
    return [e.kind for e in campaign.endpoints.order_by("kind")].index("ping")


def test_an_unchanged_campaign_saves(manager: Any, campaign: Campaign) -> None:
    assert save(manager, campaign).status_code == 302


def test_it_refuses_a_filter_with_an_unknown_operator_or_field(
    manager: Any, campaign: Campaign
) -> None:
    filters = [
        {"field": "state", "op": "within", "value": ["TX"]},
        {"field": "credit_score", "op": "gte", "value": 700},
    ]

    answer = save(manager, campaign, filters=filters)

    assert answer.status_code == 200
    assert shows(answer, "rule 1 (state): unknown op 'within'")
    assert shows(answer, "rule 2 (credit_score): unknown field 'credit_score'")
    campaign.refresh_from_db()
    assert campaign.filters == [{"field": "state", "op": "in", "value": ["TX"]}]


def test_filters_may_use_the_verticals_own_fields(manager: Any, campaign: Campaign) -> None:
    filters = [{"any": [{"field": "credit_tier", "op": "in", "value": ["good", "excellent"]}]}]

    assert save(manager, campaign, filters=filters).status_code == 302

    campaign.refresh_from_db()
    assert campaign.filters == filters


def test_it_refuses_a_schedule_it_cannot_read(manager: Any, campaign: Campaign) -> None:
    answer = save(manager, campaign, schedule={"weekdays": "9-5"})

    assert answer.status_code == 200
    assert shows(answer, "'weekdays': not a day or day range")


def test_it_refuses_personal_data_in_a_ping_mapping(manager: Any, campaign: Campaign) -> None:
    i = ping_index(campaign)

    answer = save(
        manager, campaign, **{f"endpoints-{i}-mapping": [{"to": "mail", "from": "email"}]}
    )

    assert answer.status_code == 200
    assert shows(answer, "rule 1 (mail): 'email' is personal data: it is never sent in a ping")
    assert Endpoint.objects.get(campaign=campaign, kind="ping").mapping == []


def test_a_post_mapping_may_carry_personal_data_but_not_unknown_fields(
    manager: Any, campaign: Campaign
) -> None:
    i = 1 - ping_index(campaign)
    mapping = [{"to": "contact.email", "from": "email"}, {"to": "x", "from": "shoe_size"}]

    answer = save(manager, campaign, **{f"endpoints-{i}-mapping": mapping})

    assert shows(answer, "rule 2 (x): unknown field 'shoe_size'")
    assert not shows(answer, "rule 1 (contact.email)")


def test_it_refuses_a_target_an_xml_body_cannot_carry(manager: Any, campaign: Campaign) -> None:
    i = 1 - ping_index(campaign)
    changes = {
        f"endpoints-{i}-format": "xml",
        f"endpoints-{i}-mapping": [{"to": "lead/2nd", "from": "zip"}],
    }

    answer = save(manager, campaign, **changes)

    assert shows(answer, "rule 1 (lead/2nd): '2nd' cannot be an XML element name")


def test_it_refuses_response_rules_it_cannot_apply(manager: Any, campaign: Campaign) -> None:
    i = ping_index(campaign)

    answer = save(manager, campaign, **{f"endpoints-{i}-response": {"accepted": {"path": "ok"}}})

    assert answer.status_code == 200
    assert shows(answer, "accepted: 'path' needs 'equals'")


def test_it_refuses_a_credential_of_another_buyer(manager: Any, campaign: Campaign) -> None:
    stranger = Buyer.objects.create(slug="other", name="Other")
    foreign = Credential.objects.create(buyer=stranger, name="theirs", type="bearer", secret="t")
    i = ping_index(campaign)

    answer = save(manager, campaign, **{f"endpoints-{i}-credential": foreign.pk})

    assert answer.status_code == 200
    assert Endpoint.objects.get(campaign=campaign, kind="ping").credential is None


def test_each_change_of_a_mapping_is_a_version_with_who_made_it(
    manager: Any, campaign: Campaign
) -> None:
    i = ping_index(campaign)
    first = [{"to": "zip_code", "from": "zip"}]
    second = [{"to": "zip_code", "from": "zip"}, {"to": "st", "from": "state"}]

    save(manager, campaign, **{f"endpoints-{i}-mapping": first})
    save(manager, campaign, **{f"endpoints-{i}-mapping": first, "priority": 5})
    save(manager, campaign, **{f"endpoints-{i}-mapping": second})

    ping = Endpoint.objects.get(campaign=campaign, kind="ping")
    versions = list(ping.versions.order_by("number"))
    assert [(v.number, v.mapping, v.changed_by) for v in versions] == [
        (1, first, manager.user),
        (2, second, manager.user),
    ]
    history = manager.get(f"/admin/buyers/mappingversion/?endpoint={ping.pk}")
    assert history.context["cl"].result_count == 2
    assert has_html(history, '<td class="field-changed_by nowrap">alice</td>')
    detail = manager.get(f"/admin/buyers/mappingversion/{versions[1].pk}/change/")
    assert shows(detail, '+    {\n+      "to": "st",')
    page = manager.get(CHANGE.format(campaign.pk))
    assert shows(page, "version 2 by alice")


def test_the_campaign_page_shows_cap_usage_circuits_and_the_test_console(
    manager: Any, campaign: Campaign
) -> None:
    day = Cap.objects.create(campaign=campaign, period="day", max_leads=100)
    Cap.objects.create(buyer=campaign.buyer, period="month", max_spend="5000.00")
    today = window_start("day", campaign.buyer.timezone, timezone.now())
    CapCounter.objects.create(cap=day, window_start=today, leads=7, spend=D("84.00"))
    ping = campaign.endpoints.get(kind="ping")
    CircuitState.objects.create(
        endpoint=ping,
        status="open",
        consecutive_failures=5,
        opened_at=timezone.now(),
        retry_at=timezone.now() + timedelta(seconds=30),
    )

    page = manager.get(CHANGE.format(campaign.pk))

    assert page.status_code == 200
    assert has_html(page, "<td>campaign</td><td>day</td><td>7 leads</td><td>100 leads</td>")
    assert has_html(page, "<td>buyer</td><td>month</td><td>$0.00</td><td>$5,000.00</td>")
    assert has_html(page, "<div>ping: open (next probe in ")  # relative, as of the page
    assert has_html(page, "<div>post: closed (0 consecutive failures)</div>")
    assert has_html(page, f'href="/admin/buyers/campaign/{campaign.pk}/test-lead/"')
    listing = manager.get("/admin/buyers/campaign/")
    assert shows(listing, "ping open")


def test_resuming_clears_the_pause_the_exchange_set(manager: Any, campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(
        paused_reason="timeout rate 40% over 20%", paused_at=timezone.now()
    )

    manager.post("/admin/buyers/campaign/", {"action": "resume", "_selected_action": [campaign.pk]})

    campaign.refresh_from_db()
    assert (campaign.paused_reason, campaign.paused_at) == ("", None)


def test_the_campaign_list_queries_do_not_grow_with_the_number_of_campaigns(
    manager: Any, campaign: Campaign
) -> None:
    with CaptureQueriesContext(connection) as one:
        manager.get("/admin/buyers/campaign/")
    for n in range(10):
        make_campaign(campaign.vertical, f"more-{n}", ping_url="https://b.example/p")
    with CaptureQueriesContext(connection) as eleven:
        manager.get("/admin/buyers/campaign/")

    assert len(eleven) == len(one)


def test_versions_cannot_be_deleted(manager: Any, campaign: Campaign) -> None:
    version = MappingVersion.objects.create(endpoint=campaign.endpoints.first(), number=1)

    answer = manager.post(f"/admin/buyers/mappingversion/{version.pk}/delete/", {"post": "yes"})

    assert answer.status_code == 403
    assert MappingVersion.objects.filter(pk=version.pk).exists()


def buyer_form(buyer: Buyer, credential: Credential, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": buyer.slug,
        "name": buyer.name,
        "is_active": "on",
        "timezone": buyer.timezone,
        "return_window_days": buyer.return_window_days,
        "max_return_percent": buyer.max_return_percent,
        "billing_email": "",
        "notes": "",
        "credentials-TOTAL_FORMS": 1,
        "credentials-INITIAL_FORMS": 1,
        "credentials-0-id": credential.pk,
        "credentials-0-buyer": buyer.pk,
        "credentials-0-name": credential.name,
        "credentials-0-type": credential.type,
        "credentials-0-secret": "",
        "credentials-0-secret_env": "",
    }
    for inline in ("campaigns", "caps"):
        data.update({f"{inline}-TOTAL_FORMS": 0, f"{inline}-INITIAL_FORMS": 0})
    data.update(changes)
    return data


def test_a_credentials_secret_is_never_shown_and_kept_when_left_empty(manager: Any) -> None:
    buyer = Buyer.objects.create(slug="summit", name="Summit")
    token = Credential.objects.create(buyer=buyer, name="main", type="bearer", secret="s3cret-1")
    url = f"/admin/buyers/buyer/{buyer.pk}/change/"

    assert "s3cret-1" not in manager.get(url).content.decode()
    answer = manager.post(url, buyer_form(buyer, token, **{"credentials-0-name": "primary"}))

    assert answer.status_code == 302
    token.refresh_from_db()
    assert (token.name, token.secret) == ("primary", "s3cret-1")
    manager.post(url, buyer_form(buyer, token, **{"credentials-0-secret": "s3cret-2"}))
    token.refresh_from_db()
    assert token.secret == "s3cret-2"


def test_an_oauth2_credential_needs_its_token_endpoint(manager: Any) -> None:
    buyer = Buyer.objects.create(slug="summit", name="Summit")
    token = Credential.objects.create(buyer=buyer, name="main", type="bearer", secret="s")

    answer = manager.post(
        f"/admin/buyers/buyer/{buyer.pk}/change/",
        buyer_form(buyer, token, **{"credentials-0-type": "oauth2"}),
    )

    assert answer.status_code == 200
    assert shows(answer, "This credential type needs it.")
    assert Credential.objects.get(pk=token.pk).type == "bearer"
