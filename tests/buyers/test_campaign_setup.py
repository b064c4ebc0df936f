"""Setting up a campaign in the admin: every number checked with a plain message (the
same checks as the config import), rule boxes pretty-printed for the rule editors,
credentials of the campaign's own buyer made in place, and copying a campaign."""

from __future__ import annotations

import json
import re
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from buyers.models import Buyer, Campaign, Cap, Credential, Endpoint
from tests.factories import make_campaign, make_vertical

from .test_admin import form_data, save, shows

pytestmark = pytest.mark.django_db

CHANGE = "/admin/buyers/campaign/{}/change/"
ADD = "/admin/buyers/campaign/add/"


@pytest.fixture
def manager(client: Any, django_user_model: Any) -> Any:
    user = django_user_model.objects.create_superuser("alice", "alice@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def campaign() -> Campaign:
    return make_campaign(
        make_vertical(),
        "summit-tx",
        ping_url="https://buyer.example/ping",
        post_url="https://buyer.example/post",
        filters=[{"field": "state", "op": "in", "value": ["TX"]}],
        schedule={"mon-fri": "08:00-20:00"},
        min_bid=D("2"),
        caps=[{"period": "day", "max_leads": 100}],
    )


def errors_of(response: Any) -> str:
    """The text of every error list on the page."""
    page = response.content.decode()
    return " ".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', page, re.S))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("retry_backoff", ["soon", -1], "Retry 1: 'soon' is not a whole number of seconds."),
        ("retry_backoff", ["soon", -1], "Retry 2: -1 s is out of range (1 to 86400)."),
        ("retry_backoff", {"every": 2}, "Retry backoff is a list of whole seconds"),
        ("min_bid", "-5", "A minimum bid cannot be negative."),
        ("max_timeout_rate", "150", "A rate is a percentage from 0 to 100."),
        ("max_timeout_rate", "-1", "A rate is a percentage from 0 to 100."),
        ("max_attempts", "0", "At least 1 attempt."),
        ("max_p95_latency_ms", "0", "A latency limit is at least 1 ms."),
        ("max_bid", "0", "Ensure this value is greater than or equal to 0.01."),
    ],
)
def test_a_number_out_of_range_is_a_plain_form_error_and_changes_nothing(
    manager: Any, campaign: Campaign, field: str, value: Any, message: str
) -> None:
    before = Campaign.objects.filter(pk=campaign.pk).values().get()

    answer = save(manager, campaign, **{field: value})

    assert answer.status_code == 200
    assert shows(answer, message)
    assert Campaign.objects.filter(pk=campaign.pk).values().get() == before


def test_a_fixed_price_must_be_positive(manager: Any, campaign: Campaign) -> None:
    answer = save(manager, campaign, pricing_model="fixed", fixed_price="0")

    assert shows(answer, "A price is at least 0.01.")
    assert Campaign.objects.get(pk=campaign.pk).pricing_model == "dynamic"


def cap_rows(campaign: Campaign, rows: list[dict[str, Any]]) -> dict[str, Any]:
    data = form_data(campaign)
    existing = list(campaign.caps.order_by("id"))
    data.update({"caps-TOTAL_FORMS": len(rows), "caps-INITIAL_FORMS": len(existing)})
    for i, row in enumerate(rows):
        cap = existing[i] if i < len(existing) else None
        data.update(
            {
                f"caps-{i}-id": cap.pk if cap else "",
                f"caps-{i}-campaign": campaign.pk,
                f"caps-{i}-period": row.get("period", ""),
                f"caps-{i}-max_leads": row.get("max_leads", ""),
                f"caps-{i}-max_spend": row.get("max_spend", ""),
            }
        )
    return data


def test_a_cap_row_without_a_limit_says_so_in_words(manager: Any, campaign: Campaign) -> None:
    rows = [{"period": "day", "max_leads": 100}, {"period": "week"}]

    answer = manager.post(CHANGE.format(campaign.pk), cap_rows(campaign, rows))

    assert answer.status_code == 200
    assert shows(answer, "A cap limits leads, spend or both")
    assert "cap_has_limit" not in answer.content.decode()
    assert "Constraint" not in errors_of(answer)
    assert campaign.caps.count() == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"period": "day", "max_leads": "0"}, "A lead cap is at least 1."),
        ({"period": "day", "max_spend": "-10"}, "A spend cap is at least 0.01."),
    ],
)
def test_a_cap_of_nothing_or_less_is_refused(
    manager: Any, campaign: Campaign, row: dict[str, Any], message: str
) -> None:
    answer = manager.post(CHANGE.format(campaign.pk), cap_rows(campaign, [row]))

    assert shows(answer, message)
    assert campaign.caps.get().max_leads == 100


def test_a_buyer_wide_cap_without_a_limit_says_so_in_words(manager: Any) -> None:
    buyer = Buyer.objects.create(slug="summit", name="Summit")
    page = manager.get(f"/admin/buyers/buyer/{buyer.pk}/change/")
    data = {
        "slug": "summit",
        "name": "Summit",
        "is_active": "on",
        "timezone": "UTC",
        "return_window_days": 7,
        "max_return_percent": "20.00",
        "allowed_ips": "[]",
        "rate_limit": "",
        "billing_email": "",
        "notes": "",
    }
    for formset in page.context["inline_admin_formsets"]:
        prefix = formset.formset.prefix
        total = 1 if prefix == "caps" else 0
        data.update({f"{prefix}-TOTAL_FORMS": total, f"{prefix}-INITIAL_FORMS": 0})
    data.update({"caps-0-period": "month", "caps-0-max_leads": "", "caps-0-max_spend": ""})

    answer = manager.post(f"/admin/buyers/buyer/{buyer.pk}/change/", data)

    assert answer.status_code == 200
    assert shows(answer, "A cap limits leads, spend or both")
    assert "cap_has_limit" not in answer.content.decode()
    assert not Cap.objects.exists()


def test_the_config_import_refuses_the_same_numbers_with_the_same_words(
    campaign: Campaign, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    call_command("exchange_config", "export", str(path))
    document = yaml.safe_load(path.read_text())
    entry = document["buyers"][0]["campaigns"][0]
    entry["retry_backoff"] = ["soon", -1]
    entry["pricing"]["min_bid"] = "-5"
    entry["max_timeout_rate"] = 150
    path.write_text(yaml.safe_dump(document))

    with pytest.raises(CommandError) as refused:
        call_command("exchange_config", "import", str(path))

    said = str(refused.value)
    assert "Retry 1: 'soon' is not a whole number of seconds." in said
    assert "A minimum bid cannot be negative." in said
    assert "A rate is a percentage from 0 to 100." in said


def test_money_shows_two_decimals_in_the_campaign_form(manager: Any, campaign: Campaign) -> None:
    page = manager.get(CHANGE.format(campaign.pk)).content.decode()

    assert re.search(r'name="min_bid"[^>]*value="2.00"', page)
    assert "2.0000" not in page


def test_rule_boxes_hold_json_indented_by_two_spaces(manager: Any, campaign: Campaign) -> None:
    form = manager.get(CHANGE.format(campaign.pk)).context["adminform"].form

    shown = form["filters"].value()
    # PostgreSQL keeps a table's keys in its own order: compare what they say.
    assert json.loads(shown) == campaign.filters
    assert shown == json.dumps(json.loads(shown), indent=2)
    assert shown.startswith('[\n  {\n    "')
    assert form["schedule"].value() == '{\n  "mon-fri": "08:00-20:00"\n}'


def test_the_rule_editor_widget_knows_the_verticals_fields(
    manager: Any, campaign: Campaign
) -> None:
    page = manager.get(CHANGE.format(campaign.pk)).content.decode()

    assert '<script src="/static/buyers/rule_editor.js"' in page
    for kind in ("filters", "schedule", "backoff", "mapping", "response", "headers"):
        assert f'data-rule-editor="{kind}"' in page
    schemas = re.search(r'name="filters"[^>]*data-schemas="([^"]*)"', page) or re.search(
        r'data-schemas="([^"]*)"[^>]*name="filters"', page
    )
    assert schemas is not None
    fields = json.loads(schemas.group(1).replace("&quot;", '"'))[str(campaign.vertical_id)]
    assert {"credit_tier", "state", "zip", "phone"} <= {f["name"] for f in fields}


def test_a_blank_rule_box_saves_as_no_rules(manager: Any, campaign: Campaign) -> None:
    data = form_data(campaign)
    data.update({"filters": "", "schedule": "", "retry_backoff": ""})

    assert manager.post(CHANGE.format(campaign.pk), data).status_code == 302

    campaign.refresh_from_db()
    assert (campaign.filters, campaign.schedule, campaign.retry_backoff) == ([], {}, [])


def credential_choices(response: Any, name: str) -> set[str]:
    page = response.content.decode()
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None
    return set(re.findall(r"<option[^>]*>([^<]*)</option>", select.group(1))) - {"---------"}


def test_the_add_page_offers_only_the_chosen_buyers_credentials(manager: Any) -> None:
    make_vertical()
    ours = Buyer.objects.create(slug="ours", name="Ours")
    theirs = Buyer.objects.create(slug="theirs", name="Theirs")
    Credential.objects.create(buyer=ours, name="our-token", type="bearer", secret="a")
    Credential.objects.create(buyer=theirs, name="their-token", type="bearer", secret="b")

    with_buyer = manager.get(f"{ADD}?buyer={ours.pk}")
    without = manager.get(ADD)

    assert credential_choices(with_buyer, "endpoints-__prefix__-credential") == {
        "our-token (Bearer token)"
    }
    assert credential_choices(without, "endpoints-__prefix__-credential") == set()


def test_a_credential_is_added_in_place_for_the_campaigns_buyer(manager: Any) -> None:
    ours = Buyer.objects.create(slug="ours", name="Ours")
    Buyer.objects.create(slug="theirs", name="Theirs")
    url = f"/admin/buyers/credential/add/?buyer={ours.pk}&_popup=1&_to_field=id"

    form = manager.get(url)
    answer = manager.post(
        url,
        {"buyer": ours.pk, "name": "ping-token", "type": "bearer", "secret": "s3cret", "_popup": 1},
    )

    assert credential_choices(form, "buyer") == {"Ours"}
    assert answer.status_code == 200  # the popup's answer hands the new id to the endpoint
    assert Credential.objects.get(name="ping-token").buyer == ours


def test_copying_a_campaign_copies_its_endpoints_rules_and_caps_paused(
    manager: Any, campaign: Campaign
) -> None:
    ping = campaign.endpoints.get(kind="ping")
    ping.mapping = [{"to": "zip_code", "from": "zip", "transforms": ["digits"]}]
    ping.save()
    url = f"/admin/buyers/campaign/{campaign.pk}/copy/"

    form = manager.get(url)
    answer = manager.post(url, {"name": "Summit TX 2", "slug": "summit-tx-2"})

    assert form.context["form"]["slug"].value() == "summit-tx-copy"
    copy = Campaign.objects.get(slug="summit-tx-2")
    assert answer.status_code == 302 and answer["Location"] == CHANGE.format(copy.pk)
    assert (copy.name, copy.is_active, copy.buyer_id) == ("Summit TX 2", False, campaign.buyer_id)
    assert (copy.filters, copy.schedule, copy.min_bid) == (
        campaign.filters,
        campaign.schedule,
        campaign.min_bid,
    )
    copied = {e.kind: e for e in copy.endpoints.all()}
    assert copied["ping"].mapping == ping.mapping and copied["ping"].url == ping.url
    assert copied["post"].response == campaign.endpoints.get(kind="post").response
    assert list(copy.caps.values_list("period", "max_leads")) == [("day", 100)]
    assert Campaign.objects.get(pk=campaign.pk).is_active  # the original is untouched
    assert Endpoint.objects.filter(campaign=campaign).count() == 2


def test_copy_refuses_a_slug_in_use(manager: Any, campaign: Campaign) -> None:
    answer = manager.post(
        f"/admin/buyers/campaign/{campaign.pk}/copy/", {"name": "x", "slug": "summit-tx"}
    )

    assert shows(answer, "A campaign already has this slug.")
    assert Campaign.objects.count() == 1


def test_the_copy_action_makes_paused_copies_with_free_slugs(
    manager: Any, campaign: Campaign
) -> None:
    for _ in range(2):
        manager.post(
            "/admin/buyers/campaign/",
            {"action": "copy", "_selected_action": [campaign.pk], "index": 0},
        )

    copies = Campaign.objects.exclude(pk=campaign.pk).order_by("slug")
    assert [c.slug for c in copies] == ["summit-tx-copy", "summit-tx-copy-2"]
    assert not any(c.is_active for c in copies)
    assert all(c.endpoints.count() == 2 for c in copies)


def test_the_campaign_page_reads_settings_then_endpoints_and_caps_then_figures(
    manager: Any, campaign: Campaign
) -> None:
    page = manager.get(CHANGE.format(campaign.pk)).content.decode()
    order = [
        page.index(marker)
        for marker in (
            ">Pricing</h2>",
            ">Targeting</h2>",
            ">Delivery</h2>",
            'id="endpoints-group"',
            'id="caps-group"',
            ">Health now</h2>",
            ">Last 24 hours</h2>",
            'class="submit-row"',
        )
    ]
    assert order == sorted(order)
    assert page.count(">Health now</h2>") == 1
