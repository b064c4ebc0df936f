"""Alert rules as code: the config file's ``alerts:`` section imports, exports and
refuses what it cannot apply."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from exchange.configfile import ConfigFileError, export_config, import_config
from reporting.models import AlertRule

pytestmark = pytest.mark.django_db

RULES = """
alerts:
  - {event: circuit_opened, emails: [oncall@example.com, am@example.com], webhook_url: https://hooks.example/x}
  - {event: cap_near, threshold: "90", quiet_minutes: 60}
  - {event: publisher_silent, active: false}
"""


def test_alert_rules_import_from_the_config_file_and_export_again() -> None:
    result = import_config(RULES)
    assert "alert rule circuit_opened: created" in result.report()
    rule = AlertRule.objects.get(event="circuit_opened")
    assert rule.emails == "oncall@example.com, am@example.com"
    assert rule.webhook_url == "https://hooks.example/x"
    assert AlertRule.objects.get(event="cap_near").threshold == D("90")
    assert AlertRule.objects.get(event="publisher_silent").is_active is False
    exported = export_config().text
    assert "alerts:" in exported and 'threshold: "90.00"' in exported
    again = import_config(exported)
    assert not again.changed


def test_a_changed_rule_is_reported_and_saved() -> None:
    import_config(RULES)
    result = import_config(RULES.replace('threshold: "90"', 'threshold: "75"'))
    assert "threshold: 90.00 → 75" in result.report()
    assert AlertRule.objects.get(event="cap_near").threshold == D("75")


@pytest.mark.parametrize(
    "text,problem",
    [
        ("alerts:\n  - {event: cpu_hot}", "unknown event"),
        ("alerts:\n  - {event: cap_near, emails: [not-an-address]}", "email addresses"),
        ("alerts:\n  - {event: cap_near, quiet: 5}", "unknown key"),
        ("alerts:\n  - {event: cap_near}\n  - {event: cap_near}", "listed twice"),
    ],
)
def test_a_bad_alerts_section_is_refused_whole(text: str, problem: str) -> None:
    with pytest.raises(ConfigFileError) as refused:
        import_config(text)
    assert problem in str(refused.value.problems)
    assert not AlertRule.objects.exists()
