"""Config as code for fallback campaigns, price modifiers, throttles and quality filters."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from buyers.models import Buyer, Campaign
from exchange.configfile import export_config
from exchange.models import Publisher, Vertical
from tests.buyers.test_config_file import SPEC_EXAMPLE, import_text

pytestmark = pytest.mark.django_db

MARKET = (
    SPEC_EXAMPLE
    + """
  - slug: leftovers
    name: Leftovers Ltd
    campaigns:
      - slug: leftovers-any
        vertical: auto-insurance
        fallback: true
        pricing:
          model: fixed
          price: "4.00"
          modifiers:
            - {when: {field: state, op: in, value: [CA, NY]}, add: "2.00"}
            - {when: {field: credit_tier, op: eq, value: excellent}, multiply: "1.25"}
        throttle: {pings: 300, per: 5m}
        filters:
          - {field: quality.disposable_email, op: eq, value: false}
          - {field: quality.velocity_ip, op: lte, value: 3}
        post:
          url: https://leftovers.example/post
          format: json
"""
)


def test_a_fallback_campaign_with_modifiers_and_a_throttle_imports_and_exports(
    tmp_path: Path,
) -> None:
    import_text(MARKET, tmp_path)

    campaign = Campaign.objects.get(slug="leftovers-any")
    assert (campaign.fallback, campaign.fixed_price) == (True, D("4.00"))
    assert campaign.throttle == {"pings": 300, "per": "5m"}
    assert campaign.price_modifiers[1] == {
        "when": {"field": "credit_tier", "op": "eq", "value": "excellent"},
        "multiply": "1.25",
    }
    text = export_config().text
    assert "fallback: true" in text
    assert "throttle: {pings: 300, per: 5m}" in text
    assert '- {when: {field: state, op: in, value: [CA, NY]}, add: "2.00"}' in text

    Buyer.objects.all().delete()
    Publisher.objects.all().delete()
    Vertical.objects.all().delete()
    with_key = text.replace(
        "prefix: sy_live_acme_exa}",
        "prefix: sy_live_acme_exa, key: sy_live_acme_example_key_1234567890}",
    )
    assert with_key != text
    import_text(with_key, tmp_path)
    assert export_config().text == text


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("throttle: {pings: 300, per: 5m}", "throttle: {pings: 0, per: 5 minutes}"),
            "buyers[1].campaigns[0].throttle: pings must be a whole number from 1 to 1000",
        ),
        (
            ('add: "2.00"}', "add: lots}"),
            "buyers[1].campaigns[0].pricing.modifiers: modifier 1: add needs a decimal amount",
        ),
        (
            ("field: state, op: in", "field: shoe_size, op: in"),
            "modifier 1: when: rule 1 (shoe_size): unknown field 'shoe_size'",
        ),
        (
            ('model: fixed\n          price: "4.00"', 'model: dynamic\n          min_bid: "1.00"'),
            "modifiers move a fixed price: use model: fixed",
        ),
        (
            ("field: quality.velocity_ip", "field: quality.speed"),
            "unknown field 'quality.speed'",
        ),
    ],
)
def test_a_bad_remnant_setting_is_refused_with_its_place(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    assert change[0] in MARKET

    with pytest.raises(CommandError) as refused:
        import_text(MARKET.replace(*change), tmp_path)

    assert problem in str(refused.value)
    assert not Campaign.objects.exists()


def test_a_dynamic_fallback_is_refused(tmp_path: Path) -> None:
    text = SPEC_EXAMPLE.replace("priority: 10", "priority: 10\n        fallback: true")

    with pytest.raises(CommandError, match=r"campaigns\[0\].fallback: a fallback campaign buys"):
        import_text(text, tmp_path)
    assert not Campaign.objects.exists()


def test_an_email_post_endpoint_imports_and_a_mismatched_one_is_refused(tmp_path: Path) -> None:
    email = MARKET.replace(
        "url: https://leftovers.example/post\n          format: json",
        "url: mailto:leads@leftovers.example\n          format: email",
    )
    assert email != MARKET
    import_text(email, tmp_path)
    endpoint = Campaign.objects.get(slug="leftovers-any").endpoints.get()
    assert (endpoint.format, endpoint.url) == ("email", "mailto:leads@leftovers.example")

    mismatched = email.replace("format: email", "format: json")
    with pytest.raises(CommandError) as refused:
        import_text(mismatched, tmp_path)
    assert "campaigns[0].post.format: A mailto: URL needs the e-mail format." in str(refused.value)
