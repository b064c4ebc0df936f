"""Config as code (SPEC §9): `manage.py exchange_config export|import [--dry-run]`."""

from __future__ import annotations

import re
from decimal import Decimal as D
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from buyers.models import Buyer, Campaign, Cap, CapCounter, Credential, Endpoint, MappingVersion
from exchange.configfile import ConfigFileError, export_config, import_config
from exchange.models import ApiKey, Publisher, Vertical, hash_key

pytestmark = pytest.mark.django_db

SPEC_EXAMPLE = """
verticals:
  - slug: auto-insurance
    name: Auto insurance
    routing: auction
    fields:
      - {name: credit_tier, type: choice, choices: [excellent, good, fair, poor], stage: ping}
publishers:
  - slug: acme-media
    name: Acme Media
    payout: {model: revenue_share, percent: 80}
    floor: "1.00"
    allowed_ips: [127.0.0.0/8]
    rate_limit: 100/s
    keys: [{name: main, key: sy_live_acme_example_key_1234567890}]
buyers:
  - slug: summit
    name: Summit Insurance
    timezone: America/Chicago
    return_window_days: 7
    campaigns:
      - slug: summit-tx
        vertical: auto-insurance
        pricing: {model: dynamic, min_bid: "2.00"}
        priority: 10
        filters:
          - {field: state, op: in, value: [TX, OK]}
          - {field: credit_tier, op: ne, value: poor}
        schedule: {mon-fri: "08:00-20:00"}
        caps: [{period: day, leads: 100}, {period: month, spend: "5000.00"}]
        ping:
          url: https://buyer.example/ping
          format: json
          timeout_ms: 300
          auth: {type: bearer, token_env: SUMMIT_TOKEN}
          mapping:
            - {to: zip_code, from: zip}
            - {to: st, from: state}
          response:
            accepted: {path: result, equals: [accepted]}
            price: {path: bid}
            reference: {path: bid_id}
        post:
          url: https://buyer.example/post
          format: xml
          timeout_ms: 5000
          mapping:
            - {to: lead/ref, from: bid.reference}
            - {to: lead/name, template: "{first_name} {last_name}"}
            - {to: lead/phone, from: phone, transforms: [digits]}
          response:
            accepted: {path: response/status, equals: [ok]}
            reference: {path: response/lead_id}
            reason: {path: response/error}
"""

# Everything the grammar offers, to show export → import → export loses nothing.
RICH = """
verticals:
  - slug: solar
    name: Solar
    routing: priority
    ping_ttl_seconds: 60
    fields:
      - name: roof_type
        type: choice
        choices: [shingle, metal]
        stage: ping
        required_at_ping: true
      - {name: monthly_bill, type: decimal, stage: ping}
      - {name: ssn_last4, type: string, stage: post}
publishers:
  - slug: bright-leads
    name: Bright Leads
    payout: {model: fixed, amount: "3.50"}
    floor: "0.50"
    callback_url: https://bright.example/hook
    keys:
      - {name: main, key: sy_live_bright_leads_main_key_000001}
      - {name: sandbox, key: sy_test_bright_leads_test_key_000001}
buyers:
  - slug: sunco
    name: SunCo
    timezone: America/Denver
    return_window_days: 10
    max_return_percent: "15.00"
    billing_email: ap@sunco.example
    caps: [{period: week, spend: "2500.00"}]
    campaigns:
      - slug: sunco-fixed
        name: SunCo fixed price
        vertical: solar
        pricing: {model: fixed, price: "12.00"}
        priority: 5
        require_trustedform: true
        retry_backoff: [5, 30]
        filters:
          - any:
              - {field: state, op: in, value: [CO, UT]}
              - {field: zip, op: starts_with, value: "80"}
          - {field: publisher, op: not_in, value: [spammy]}
        schedule: {mon-fri: ["08:00-12:00", "13:00-18:00"], sat: "10:00-14:00"}
        caps: [{period: day, leads: 40, spend: "480.00"}]
        post:
          url: https://sunco.example/leads
          test_url: https://sunco.example/sandbox/leads
          method: PUT
          format: form
          timeout_ms: 4000
          headers: {X-Source: switchyard}
          auth: {type: basic, username: switchyard, password_env: SUNCO_PASSWORD}
          mapping:
            - {to: name, template: "{first_name} {last_name}"}
            - {to: first, from: first_name, split: " ", index: 0}
            - {to: roof, from: roof_type, map: {shingle: S, metal: M}, default: O}
            - {to: bill, from: monthly_bill, transforms: [currency]}
            - {to: born, from: dob, transforms: [{date: "%m/%d/%Y"}]}
            - {to: st, from: state, transforms: [state_name, upper, {truncate: 12}]}
            - {to: vip, value: "yes", when: {field: monthly_bill, op: gt, value: 300}}
          response:
            accepted: {status: "200-201"}
            reference: {regex: "id=(\\\\w+)"}
      - slug: sunco-bids
        vertical: solar
        pricing: {model: dynamic, min_bid: "4.25"}
        priority: 0
        is_active: false
        ping:
          url: https://sunco.example/ping
          format: xml
          timeout_ms: 250
          auth:
            type: oauth2
            token_url: https://sunco.example/token
            client_id: sy
            client_secret_env: SUNCO_SECRET
            scope: leads
            credential: sunco-oauth
          mapping: [{to: quote/zip, from: zip}, {to: quote/roof, from: roof_type}]
          response:
            accepted: {path: quote/decision, equals: [yes]}
            price: {path: quote/price}
        post:
          url: https://sunco.example/post
          format: json
          timeout_ms: 3000
          auth:
            type: oauth2
            token_url: https://sunco.example/token
            client_id: sy
            client_secret_env: SUNCO_SECRET
            scope: leads
            credential: sunco-oauth
          mapping:
            - {to: lead.ref, from: bid.reference}
            - {to: lead.phone, from: phone, transforms: [digits]}
          response: {accepted: {contains: ACCEPTED}, reason: {regex: "reason: (.*)"}}
  - slug: hooked
    name: Hooked
    timezone: UTC
    return_window_days: 7
    campaigns:
      - slug: hooked-all
        vertical: solar
        pricing: {model: dynamic, min_bid: "1.00"}
        priority: 1
        ping:
          url: https://hooked.example/ping
          format: json
          timeout_ms: 500
          auth: {type: hmac, header: X-Hooked-Signature, secret_env: HOOKED_HMAC}
        post:
          url: https://hooked.example/post
          format: json
          timeout_ms: 500
          auth: {type: header, name: X-Api-Key, value_env: HOOKED_KEY}
"""


def run(*args: str) -> str:
    out = StringIO()
    call_command("exchange_config", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def import_text(text: str, tmp_path: Path, *flags: str) -> str:
    path = tmp_path / "exchange.yaml"
    path.write_text(text)
    return run("import", str(path), *flags)


def wipe_configuration() -> None:
    Buyer.objects.all().delete()
    Publisher.objects.all().delete()
    Vertical.objects.all().delete()


def test_the_spec_example_imports_as_written(tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE, tmp_path)

    acme = Publisher.objects.get(slug="acme-media")
    assert (acme.payout_percent, acme.floor, acme.rate_limit) == (D("80"), D("1.00"), "100/s")
    assert acme.keys.get().key_hash == hash_key("sy_live_acme_example_key_1234567890")
    campaign = Campaign.objects.get(slug="summit-tx")
    assert (campaign.buyer.timezone, campaign.priority, campaign.min_bid) == (
        "America/Chicago",
        10,
        D("2.00"),
    )
    assert campaign.filters[0] == {"field": "state", "op": "in", "value": ["TX", "OK"]}
    assert campaign.schedule == {"mon-fri": "08:00-20:00"}
    assert sorted((c.period, c.max_leads, c.max_spend) for c in campaign.caps.all()) == [
        ("day", 100, None),
        ("month", None, D("5000.00")),
    ]
    ping = campaign.endpoints.get(kind="ping")
    assert (ping.credential.type, ping.credential.secret_env) == ("bearer", "SUMMIT_TOKEN")
    post = campaign.endpoints.get(kind="post")
    assert (post.format, post.timeout_ms, post.mapping[1]["template"]) == (
        "xml",
        5000,
        "{first_name} {last_name}",
    )


def test_export_then_import_on_an_empty_database_reproduces_the_configuration(
    tmp_path: Path,
) -> None:
    import_text(RICH, tmp_path)
    first = export_config().text

    wipe_configuration()
    # Key texts are secrets, exported as prefixes only: the operator gives them back.
    with_keys = first.replace(
        "prefix: sy_live_bright_l}",
        "prefix: sy_live_bright_l, key: sy_live_bright_leads_main_key_000001}",
    ).replace(
        "prefix: sy_test_bright_l}",
        "prefix: sy_test_bright_l, key: sy_test_bright_leads_test_key_000001}",
    )
    assert with_keys != first
    import_text(with_keys, tmp_path)

    assert export_config().text == first
    assert Campaign.objects.count() == 3


def test_the_export_reads_like_the_spec(tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE, tmp_path)

    text = export_config().text

    assert '    pricing: {model: dynamic, min_bid: "2.00"}\n' in text
    assert '    schedule: {mon-fri: "08:00-20:00"}\n' in text
    assert "- {to: lead/phone, from: phone, transforms: [digits]}\n" in text
    assert yaml.safe_load(text)["buyers"][0]["campaigns"][0]["caps"] == [
        {"period": "day", "leads": 100},
        {"period": "month", "spend": "5000.00"},
    ]


def test_importing_the_same_file_twice_changes_nothing(tmp_path: Path) -> None:
    first = import_text(RICH, tmp_path)
    versions = MappingVersion.objects.count()

    second = import_text(RICH, tmp_path)

    assert "created" in first
    assert "\nNo changes (7 objects unchanged).\n" in second
    assert not re.search(r": (created|changed|deleted)$", second, re.MULTILINE)
    assert MappingVersion.objects.count() == versions


def test_an_import_prints_each_change_as_old_and_new_values(tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE, tmp_path)
    edited = SPEC_EXAMPLE.replace("priority: 10", "priority: 20").replace(
        "{to: st, from: state}", "{to: state_code, from: state}"
    )

    report = import_text(edited, tmp_path)

    assert "  campaign summit-tx: changed\n      priority: 10 → 20\n" in report
    assert "    ping endpoint: changed\n" in report
    assert '"to": "state_code"' in report
    assert "vertical auto-insurance: unchanged" in report
    assert report.splitlines()[-2].startswith("Summary: 2 changed")


def test_a_changed_mapping_leaves_a_new_version_in_the_history(tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE, tmp_path)
    ping = Endpoint.objects.get(campaign__slug="summit-tx", kind="ping")
    assert list(ping.versions.values_list("number", flat=True)) == [1]

    import_text(SPEC_EXAMPLE.replace("{to: st, from: state}", "{to: st2, from: state}"), tmp_path)

    latest = ping.versions.first()
    assert latest.number == 2
    assert latest.mapping[1] == {"to": "st2", "from": "state"}


def test_a_dry_run_reports_the_changes_and_saves_nothing(tmp_path: Path) -> None:
    report = import_text(SPEC_EXAMPLE, tmp_path, "--dry-run")

    assert "campaign summit-tx: created" in report
    assert report.rstrip().splitlines()[-2].endswith("(dry run: nothing was saved).")
    assert not Vertical.objects.exists()
    assert not ApiKey.objects.exists()


def test_a_file_with_problems_is_refused_whole_with_the_place_of_each(tmp_path: Path) -> None:
    broken = (
        SPEC_EXAMPLE.replace(
            "{field: credit_tier, op: ne, value: poor}",
            "{field: credit_tier, op: nope, value: poor}",
        )
        .replace(
            "{to: st, from: state}", "{to: st, from: state}\n            - {to: mail, from: email}"
        )
        .replace("url: https://buyer.example/post", "url: not a url")
        .replace("return_window_days: 7", "return_window_days: 7\n    colour: blue")
    )

    with pytest.raises(CommandError) as refused:
        import_text(broken, tmp_path)

    message = str(refused.value)
    assert "nothing changed" in message
    assert "buyers[0].campaigns[0].filters[1]: unknown op 'nope'" in message
    assert (
        "buyers[0].campaigns[0].ping.mapping[2]: 'email' is personal data: "
        "it is never sent in a ping" in message
    )
    assert "buyers[0].campaigns[0].post.url: Enter a valid URL." in message
    assert "buyers[0].colour: unknown key" in message
    assert not Vertical.objects.exists()  # the valid part was not applied either


def test_a_campaign_must_name_a_vertical_that_exists(tmp_path: Path) -> None:
    text = SPEC_EXAMPLE.replace("vertical: auto-insurance", "vertical: mortgage")

    with pytest.raises(ConfigFileError) as refused:
        import_config(text)

    assert refused.value.problems == [
        "buyers[0].campaigns[0].vertical: no vertical 'mortgage' here or in the file"
    ]


def test_a_ping_mapping_may_not_read_a_post_stage_field(tmp_path: Path) -> None:
    text = RICH.replace("{to: quote/roof, from: roof_type}", "{to: quote/ssn, from: ssn_last4}")

    with pytest.raises(ConfigFileError) as refused:
        import_config(text)

    assert refused.value.problems == [
        "buyers[0].campaigns[1].ping.mapping[1]: 'ssn_last4' is a post-stage field: never in a ping"
    ]


def test_yes_and_no_stay_text_as_buyers_mean_them(tmp_path: Path) -> None:
    import_text(RICH, tmp_path)

    ping = Endpoint.objects.get(campaign__slug="sunco-bids", kind="ping")
    assert ping.response["accepted"] == {"path": "quote/decision", "equals": ["yes"]}


def test_secrets_are_stored_encrypted_and_never_exported(tmp_path: Path) -> None:
    text = SPEC_EXAMPLE.replace("token_env: SUMMIT_TOKEN", "token: s3cret-summit-token")
    import_text(text, tmp_path)
    credential = Credential.objects.get(buyer__slug="summit")
    assert (credential.secret, credential.secret_env) == ("s3cret-summit-token", "")

    result = export_config()

    assert "s3cret" not in result.text
    assert "sy_live_acme_example_key_1234567890" not in result.text
    assert "{name: main, prefix: sy_live_acme_exa}" in result.text
    assert result.warnings == [
        "buyers[0].campaigns[0].ping.auth: the stored token of credential 'summit-tx-ping' is "
        "not exported; give token or token_env when importing elsewhere"
    ]


def test_importing_an_export_keeps_the_stored_secret(tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE.replace("token_env: SUMMIT_TOKEN", "token: s3cret"), tmp_path)

    report = import_text(export_config().text, tmp_path)

    assert "\nNo changes" in report
    assert Credential.objects.get(buyer__slug="summit").secret == "s3cret"


def test_an_environment_variable_replaces_an_inline_secret(tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE.replace("token_env: SUMMIT_TOKEN", "token: s3cret"), tmp_path)

    report = import_text(SPEC_EXAMPLE, tmp_path)

    credential = Credential.objects.get(buyer__slug="summit")
    assert (credential.secret, credential.secret_env) == ("", "SUMMIT_TOKEN")
    assert "secret: replaced" in report
    assert "secret_env: '' → SUMMIT_TOKEN" in report


def test_a_publisher_key_is_created_with_its_exact_text_once(api: Any, tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE, tmp_path)
    import_text(SPEC_EXAMPLE, tmp_path)

    assert (
        ApiKey.objects.filter(key_hash=hash_key("sy_live_acme_example_key_1234567890")).count() == 1
    )
    answer = api.get(
        "/api/v1/leads/00000000-0000-0000-0000-000000000000",
        HTTP_AUTHORIZATION="Bearer sy_live_acme_example_key_1234567890",
        REMOTE_ADDR="127.0.0.1",
    )
    assert answer.status_code == 404  # authenticated: the lead is simply not there


def test_an_exported_key_that_is_not_here_is_reported_not_invented(tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE, tmp_path)
    exported = export_config().text
    wipe_configuration()

    result = import_config(exported)

    assert not ApiKey.objects.exists()
    assert (
        "publishers[0].keys[0]: no key sy_live_acme_exa… here, and a key's full text is never "
        "exported: give it as key (or key_env) to create it"
    ) in result.warnings


def test_a_key_of_another_publisher_is_refused(tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE, tmp_path)
    thief = SPEC_EXAMPLE.replace("slug: acme-media", "slug: other-media")

    with pytest.raises(ConfigFileError) as refused:
        import_config(thief)

    assert refused.value.problems == [
        "publishers[0].keys[0].key: this key already belongs to Acme Media"
    ]
    assert not Publisher.objects.filter(slug="other-media").exists()


def test_caps_and_endpoints_the_file_drops_are_deleted_and_edited_caps_keep_their_usage(
    tmp_path: Path,
) -> None:
    import_text(SPEC_EXAMPLE, tmp_path)
    day_cap = Cap.objects.get(campaign__slug="summit-tx", period="day")
    CapCounter.objects.create(cap=day_cap, window_start="2026-01-01T00:00:00Z", leads=7)
    edited = SPEC_EXAMPLE.replace(
        'caps: [{period: day, leads: 100}, {period: month, spend: "5000.00"}]',
        "caps: [{period: day, leads: 150}]",
    )
    edited = edited[: edited.index("        post:")]

    report = import_text(edited, tmp_path)

    assert "    cap 150 leads per day: changed\n        max_leads: 100 → 150\n" in report
    assert "    cap 5000.00 spend per month: deleted\n" in report
    assert "    post endpoint: deleted\n" in report
    assert Cap.objects.get(pk=day_cap.pk).counters.get().leads == 7
    assert list(Endpoint.objects.values_list("kind", flat=True)) == ["ping"]


def test_objects_missing_from_the_file_are_left_alone(tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE, tmp_path)

    import_text("publishers:\n  - {slug: newcomer, name: Newcomer}\n", tmp_path)

    assert Campaign.objects.filter(slug="summit-tx").exists()
    assert Publisher.objects.count() == 2


def test_export_writes_a_file_or_stdout(tmp_path: Path) -> None:
    import_text(SPEC_EXAMPLE, tmp_path)
    target = tmp_path / "out.yaml"

    run("export", str(target))

    assert target.read_text() == run("export")
    assert yaml.safe_load(target.read_text())["publishers"][0]["slug"] == "acme-media"


def test_import_of_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        run("import", str(tmp_path / "nope.yaml"))


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not valid YAML"):
        import_text("buyers: [unclosed", tmp_path)


def test_the_demo_configuration_is_such_a_file(settings: Any) -> None:
    from exchange.management.commands.load_demo import DEMO_LIVE_KEY, DEMO_TEST_KEY

    settings.DEBUG = True
    call_command("load_demo", stdout=StringIO())
    call_command("load_demo", stdout=StringIO())

    for key in (DEMO_LIVE_KEY, DEMO_TEST_KEY):
        assert ApiKey.objects.filter(key_hash=hash_key(key), publisher__slug="acme-media").exists()
    assert Campaign.objects.count() == 5
    demo = Path(__file__).resolve().parents[2] / "demo" / "config.yaml"
    assert import_config(demo.read_text()).changed is False
