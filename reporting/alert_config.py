"""Alert rules as code: the ``alerts:`` section of the config file (SPEC §9).

```yaml
alerts:
  - {event: circuit_opened, emails: [oncall@example.com], webhook_url: https://hooks.example/x}
  - {event: cap_near, threshold: "90", quiet_minutes: 60}
  - {event: publisher_silent, active: false}
```
Matched by ``event``; a rule left out of the file is left as it is.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.configfile.changes import CREATED, Change, assign, decimal_text
from exchange.configfile.reader import Reader, at
from exchange.configfile.sections import Section, register

from .alert_models import AlertEvent, AlertRule

KEYS = ("event", "active", "emails", "webhook_url", "threshold", "quiet_minutes")


def parse(r: Reader, node: Any, path: str) -> list[dict[str, Any]]:
    rules = []
    seen: set[str] = set()
    for i, item in enumerate(r.items(node, path)):
        where = at(path, i)
        item = r.table(item, where, keys=KEYS, required=("event",))
        if item is None:
            continue
        event = str(item["event"])
        if event not in AlertEvent.values:
            r.fail(at(where, "event"), f"unknown event (expected: {', '.join(AlertEvent.values)})")
            continue
        if event in seen:
            r.fail(at(where, "event"), f"{event} is listed twice")
        seen.add(event)
        emails = item.get("emails") or []
        if isinstance(emails, str):
            emails = [e.strip() for e in emails.split(",") if e.strip()]
        if not isinstance(emails, list) or not all(isinstance(e, str) and "@" in e for e in emails):
            r.fail(at(where, "emails"), "expected a list of email addresses")
            emails = []
        active = item.get("active", True)
        if not isinstance(active, bool):
            r.fail(at(where, "active"), "expected true or false")
        values = {
            "is_active": active is not False,
            "emails": ", ".join(emails),
            "webhook_url": r.value(AlertRule, "webhook_url", item, "webhook_url", where) or "",
            "threshold": r.value(AlertRule, "threshold", item, "threshold", where),
            "quiet_minutes": r.value(AlertRule, "quiet_minutes", item, "quiet_minutes", where),
        }
        rules.append({"event": event, "values": values})
    return rules


def apply(rules: list[dict[str, Any]]) -> list[Change]:
    changes = []
    for rule in rules:
        change = Change(f"alert rule {rule['event']}", major=True)
        instance = AlertRule.objects.filter(event=rule["event"]).first()
        if instance is None:
            AlertRule.objects.create(event=rule["event"], **rule["values"])
            change.status = CREATED
        elif assign(instance, rule["values"], change):
            instance.save()
        changes.append(change)
    return changes


def export() -> list[dict[str, Any]]:
    out = []
    for rule in AlertRule.objects.order_by("event"):
        item: dict[str, Any] = {"event": rule.event}
        if not rule.is_active:
            item["active"] = False
        emails = [e.strip() for e in rule.emails.split(",") if e.strip()]
        if emails:
            item["emails"] = emails
        if rule.webhook_url:
            item["webhook_url"] = rule.webhook_url
        if rule.threshold is not None:
            item["threshold"] = decimal_text(Decimal(rule.threshold))
        if rule.quiet_minutes is not None:
            item["quiet_minutes"] = rule.quiet_minutes
        out.append(item)
    return out


def register_section() -> None:
    register(Section("alerts", parse, apply, export))
