"""An account manager sets up a buyer's campaign in a real browser without typing JSON:
buyer, campaign, both endpoints with a credential made in place, a filter, a mapping,
response rules, a schedule and a cap through the rule editors; then tries it in the
test console, and the config file export round-trips through the editors. A publisher then
posts a lead that sells to the new campaign, and the account manager finds it by the
phone number the consumer gave."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from buyers.models import Campaign, Credential
from exchange.roles import ACCOUNT_MANAGERS
from leads.models import Lead
from tests.factories import POST_LEAD, make_publisher, make_vertical

from .conftest import admin_login, assert_clean

pytestmark = pytest.mark.django_db(transaction=True)

BUYER_PORT = 18410  # this suite's port for the fake buyer


@pytest.fixture
def fake_buyer() -> Iterator[Any]:
    """The buyer's API: bids 7.25 on a ping, takes every post."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=BUYER_PORT)
    server.expect_request("/ping").respond_with_json({"result": "accepted", "bid": "7.25"})
    server.expect_request("/post").respond_with_json({"status": "ok"})
    server.start()
    yield server
    server.clear()
    server.stop()


def exported() -> str:
    out = StringIO()
    call_command("exchange_config", "export", stdout=out)
    return out.getvalue()


def settle(page: Any) -> None:
    # Leaving a page while its icons load would abort them: wait until it is quiet.
    page.wait_for_load_state("networkidle")


def editor(page: Any, name: str) -> Any:
    return page.locator(f'.rule-editor[data-editor-for="{name}"]')


def test_an_account_manager_sets_up_a_campaign_without_typing_json(
    page: Any, fake_buyer: Any, api: Any
) -> None:
    make_vertical()
    _, key = make_publisher("acme")  # a publisher already sending leads
    manager = get_user_model().objects.create_user("amy", "amy@example.com", "pw-amy-1")
    manager.is_staff = True
    manager.save()
    manager.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
    admin_login(page, "amy", "pw-amy-1")
    settle(page)

    # The buyer.
    page.goto("/admin/buyers/buyer/add/")
    page.fill("#id_name", "Summit Insurance")
    page.fill("#id_slug", "summit")
    page.click("input[name=_continue]")
    settle(page)
    page.click("text=Add a campaign")
    settle(page)

    # The campaign: its buyer is already chosen; no JSON is typed below.
    page.select_option("#id_vertical", label="Auto Insurance")
    page.fill("#id_name", "Summit TX")
    page.fill("#id_slug", "summit-tx")
    page.fill("#id_min_bid", "2.00")
    filters = editor(page, "filters")
    filters.locator("text=+ Add a filter").click()
    filters.locator("select.rule-field").select_option("state")
    filters.locator("select.rule-op").select_option("in")
    filters.locator("input.rule-value").fill("TX, OK")
    schedule = editor(page, "schedule")
    schedule.locator("tr[data-day=mon] >> text=+ hours").click()
    schedule.locator("tr[data-day=mon] input.rule-from").fill("08:00")
    schedule.locator("tr[data-day=mon] input.rule-to").fill("20:00")
    schedule.locator("text=Mon–Fri like Monday").click()

    # Both endpoints.
    for i, kind in enumerate(("ping", "post")):
        page.click("#endpoints-group .add-row a")
        prefix = f"#id_endpoints-{i}-"
        page.select_option(f"{prefix}kind", kind)
        page.fill(f"{prefix}url", fake_buyer.url_for(f"/{kind}"))
        page.fill(f"{prefix}timeout_ms", "2000")
    # The ping's credential, made in place for this buyer.
    with page.expect_popup() as opened:
        page.click("#add_id_endpoints-0-credential")
    popup = opened.value
    popup.wait_for_load_state()
    assert popup.locator("#id_buyer option").all_inner_texts() == ["Summit Insurance"]
    popup.fill("#id_name", "summit-token")
    popup.select_option("#id_type", "bearer")
    popup.fill("#id_secret", "t0ken-summit")
    popup.click("input[name=_save]")
    popup.wait_for_event("close")
    assert "summit-token" in page.locator("#id_endpoints-0-credential").inner_text()

    ping_map = editor(page, "endpoints-0-mapping")
    ping_map.locator("text=+ Add a mapping rule").click()
    ping_map.locator("input.rule-to").fill("zip_code")
    ping_map.locator("select.rule-source").select_option("zip")
    ping_answer = editor(page, "endpoints-0-response")
    ping_answer.locator("select.rule-accepted-kind").select_option("path")
    ping_answer.locator("input.rule-accepted").fill("result")
    ping_answer.locator("input.rule-equals").fill("accepted")
    ping_answer.locator("select.rule-price-kind").select_option("path")
    ping_answer.locator("input.rule-price").fill("bid")
    post_map = editor(page, "endpoints-1-mapping")
    post_map.locator("text=+ Add a mapping rule").click()
    post_map.locator("input.rule-to").fill("phone_number")
    post_map.locator("select.rule-source").select_option("phone")
    post_map.locator("select.rule-transform").select_option("digits")
    post_map.locator("button.rule-chip-add").click()
    assert post_map.locator(".rule-chip").inner_text().startswith("digits")

    # A cap.
    page.click("#caps-group .add-row a")
    page.select_option("#id_caps-0-period", "day")
    page.fill("#id_caps-0-max_leads", "100")
    page.click("input[name=_continue]")
    settle(page)
    assert page.locator(".errornote").count() == 0, page.locator(".errorlist").all_inner_texts()
    assert "/change/" in page.url  # saved: the add page became the change page

    campaign = Campaign.objects.get(slug="summit-tx")
    assert campaign.filters == [{"field": "state", "op": "in", "value": ["TX", "OK"]}]
    assert campaign.schedule == {"mon-fri": "08:00-20:00"}
    ping, post = campaign.endpoints.get(kind="ping"), campaign.endpoints.get(kind="post")
    assert ping.mapping == [{"to": "zip_code", "from": "zip"}]
    assert ping.response == {
        "accepted": {"path": "result", "equals": ["accepted"]},
        "price": {"path": "bid"},
    }
    assert post.mapping == [{"to": "phone_number", "from": "phone", "transforms": ["digits"]}]
    assert ping.credential == Credential.objects.get(name="summit-token", buyer=campaign.buyer)
    assert list(campaign.caps.values_list("period", "max_leads")) == [("day", 100)]
    # The box behind the rows holds the saved rules, indented.
    assert page.locator("#id_filters").input_value() == json.dumps(campaign.filters, indent=2)

    # The test console sends the campaign's ping and reads the answer with its rules.
    page.click("text=Send test lead")
    settle(page)
    page.fill("textarea[name=lead]", '{"zip": "75001", "state": "TX", "credit_tier": "good"}')
    page.click("button[value=send]")
    page.locator("#test-answer").wait_for()
    assert json.loads(page.locator("#test-request-body").inner_text()) == {"zip_code": "75001"}
    assert "Bearer t0ken-summit" not in page.content()  # the secret is masked
    answer = page.locator("#test-answer").inner_text()
    assert "accepted" in answer and "7.25" in answer

    # Saving through the editors without a change leaves the config file as it was.
    before = exported()
    page.goto(f"/admin/buyers/campaign/{campaign.pk}/change/")
    settle(page)
    page.click("input[name=_continue]")
    settle(page)
    assert exported() == before
    entry_before = yaml.safe_load(before)["buyers"][0]["campaigns"][0]

    # An edit through the editors is the edit the config file shows.
    page.goto(f"/admin/buyers/campaign/{campaign.pk}/change/")
    settle(page)
    editor(page, "filters").locator("input.rule-value").fill("TX, OK, LA")
    saturday = editor(page, "schedule").locator("tr[data-day=sat]")
    saturday.locator("text=+ hours").click()
    saturday.locator("input.rule-from").fill("09:00")
    saturday.locator("input.rule-to").fill("12:00")
    page.click("input[name=_continue]")
    settle(page)
    entry = yaml.safe_load(exported())["buyers"][0]["campaigns"][0]
    assert entry["filters"] == [{"field": "state", "op": "in", "value": ["TX", "OK", "LA"]}]
    assert entry["schedule"] == {"mon-fri": "08:00-20:00", "sat": "09:00-12:00"}
    assert entry["ping"]["mapping"] == [{"to": "zip_code", "from": "zip"}]
    # Nothing else moved: put the two edits back and the file is what it was.
    document = yaml.safe_load(exported())
    document["buyers"][0]["campaigns"][0].update(filters=entry_before["filters"])
    document["buyers"][0]["campaigns"][0].update(schedule=entry_before["schedule"])
    assert document == yaml.safe_load(before)

    # Open every hour of the week (through the rows again) so that the lead below sells
    # whenever this test runs; then a publisher posts a person.
    page.goto(f"/admin/buyers/campaign/{campaign.pk}/change/")
    settle(page)
    schedule = editor(page, "schedule")
    for day in ("mon", "sat"):
        schedule.locator(f"tr[data-day={day}] input.rule-from").fill("00:00")
        schedule.locator(f"tr[data-day={day}] input.rule-to").fill("24:00")
    schedule.locator("text=Mon–Fri like Monday").click()
    schedule.locator("tr[data-day=sun] >> text=+ hours").click()
    schedule.locator("tr[data-day=sun] input.rule-from").fill("00:00")
    schedule.locator("tr[data-day=sun] input.rule-to").fill("24:00")
    page.click("input[name=_continue]")
    settle(page)
    campaign.refresh_from_db()
    assert campaign.schedule == {"mon-sun": "00:00-24:00"}  # the rows write it short
    answer = api.post(
        "/api/v1/leads",
        {"vertical": "auto-insurance", "lead": {**POST_LEAD, "phone": "(469) 555-0187"}},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "sold", answer.json()
    lead = Lead.objects.get(pk=answer.json()["lead_id"])

    # The account manager finds it by the phone number, written the way the caller says it.
    page.goto("/admin/leads/lead/")
    settle(page)
    page.fill("#searchbar", "469 555 0187")
    page.press("#searchbar", "Enter")
    settle(page)
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    rows.first.locator("a.short-id").click()
    settle(page)
    assert str(lead.pk) in page.url
    content = page.locator("#content").inner_text()
    assert "Summit TX" in content or "summit-tx" in content
    assert "$7.25" in content  # the price the new campaign's ping answer bid
    assert_clean(page)


def test_the_json_view_is_one_click_away_and_reads_back_into_rows(page: Any) -> None:
    from tests.factories import make_campaign

    campaign = make_campaign(
        make_vertical(),
        "summit-tx",
        ping_url="https://buyer.example.com/ping",
        filters=[
            {"field": "state", "op": "in", "value": ["TX"]},
            {
                "any": [
                    {"field": "credit_tier", "op": "eq", "value": "good"},
                    {"field": "credit_tier", "op": "eq", "value": "excellent"},
                ]
            },
        ],
    )
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-1")
    admin_login(page, "root", "pw-root-1")
    settle(page)
    page.goto(f"/admin/buyers/campaign/{campaign.pk}/change/")
    settle(page)
    filters = editor(page, "filters")
    # A group the rows cannot edit is shown as it is, and kept.
    assert filters.locator("select.rule-field").count() == 1
    assert "credit_tier" in filters.locator(".rule-raw").inner_text()
    page.screenshot(path="/tmp/editors_change.png", full_page=True)

    filters.locator("button.rule-toggle").click()
    box = page.locator("#id_filters")
    assert box.is_visible()
    box.fill('[{"field": "zip", "op": "starts_with", "value": "750"}]')
    filters.locator("button.rule-toggle").click()
    assert not box.is_visible()
    assert filters.locator("select.rule-field").input_value() == "zip"
    assert filters.locator("select.rule-op").input_value() == "starts_with"
    assert filters.locator("input.rule-value").input_value() == "750"

    # JSON that does not parse keeps the JSON view open and says why.
    filters.locator("button.rule-toggle").click()
    box.fill("[{")
    filters.locator("button.rule-toggle").click()
    assert "does not parse" in filters.locator(".rule-problem").inner_text()
    assert box.is_visible()
    box.fill('[{"field": "zip", "op": "starts_with", "value": "750"}]')
    page.click("input[name=_continue]")
    settle(page)
    campaign.refresh_from_db()
    assert campaign.filters == [{"field": "zip", "op": "starts_with", "value": "750"}]
    assert_clean(page)


def test_without_javascript_the_rules_are_json_boxes_that_still_save(
    chromium: Any, live_server: Any
) -> None:
    from tests.factories import make_campaign

    campaign = make_campaign(make_vertical(), "summit-tx", schedule={"mon-fri": "08:00-20:00"})
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-1")
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        admin_login(page, "root", "pw-root-1")
        page.goto(f"/admin/buyers/campaign/{campaign.pk}/change/")
        assert page.locator(".rule-editor").count() == 0
        box = page.locator("#id_schedule")
        assert box.is_visible()
        assert box.input_value() == '{\n  "mon-fri": "08:00-20:00"\n}'
        box.fill('{"sat": "09:00-12:00"}')
        page.click("input[name=_continue]")
        campaign.refresh_from_db()
        assert campaign.schedule == {"sat": "09:00-12:00"}
    finally:
        context.close()
