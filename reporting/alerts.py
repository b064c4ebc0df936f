"""Alerts (SPEC §8): noticing what needs a person, and telling them once.

``check(now)`` (the beat task ``reporting.tasks.check_alerts``, every
``ALERT_CHECK_SECONDS``) reads what happened since its last look — circuit events,
paused campaigns, failed deliveries, cap counters, the rollups — and raises an alert
for each subject. ``raise_alert`` stores one only through the subject's gate: a
conditional upsert that succeeds for the first caller after the quiet period
(``ALERT_QUIET_MINUTES`` or the rule's own), so any number of checkers, retries and
failing pings still make one alert per subject per period. ``deliver(alert_id)``
then sends it by email and to the webhook, each claimed by a conditional UPDATE.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone

from buyers.caps import usage
from buyers.choices import CircuitStatus
from buyers.models import Buyer, Campaign, Cap, CircuitEvent
from buyers.transport import OutboundRequest, send
from exchange.models import Publisher
from leads.callbacks import SIGNATURE_HEADER, sign
from leads.choices import DeliveryStatus
from leads.models import Delivery, Lead

from .alert_models import (
    THRESHOLDS,
    Alert,
    AlertEvent,
    AlertGate,
    AlertRule,
    AlertWatch,
    SendStatus,
)
from .rollup_models import TrafficHour

log = logging.getLogger(__name__)


# --- raising ---------------------------------------------------------------------------------


def rule_for(event: str) -> AlertRule | None:
    return AlertRule.objects.filter(event=event).first()


def threshold(event: str, rule: AlertRule | None) -> Decimal | None:
    if rule is not None and rule.threshold is not None:
        return rule.threshold
    return THRESHOLDS.get(event, ("", None))[1]


def _pass_gate(event: str, subject: str, now: datetime, quiet: timedelta) -> bool:
    """True for exactly one caller per (event, subject) per quiet period."""
    table = connection.ops.quote_name(AlertGate._meta.db_table)
    # One statement on PostgreSQL and SQLite alike: insert the gate, or move an expired
    # one; a row comes back only when this caller did either.
    sql = (
        f"INSERT INTO {table} (event, subject, quiet_until) VALUES (%s, %s, %s) "
        f"ON CONFLICT (event, subject) DO UPDATE SET quiet_until = excluded.quiet_until "
        f"WHERE {table}.quiet_until <= %s RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [event, subject, now + quiet, now])
        return cursor.fetchone() is not None


def raise_alert(
    event: str, subject: str, title: str, detail: dict[str, Any], *, now: datetime | None = None
) -> Alert | None:
    """Store an alert unless its rule is off or its subject is in its quiet period."""
    now = now or timezone.now()
    rule = rule_for(event)
    if rule is not None and not rule.is_active:
        return None
    quiet = timedelta(
        minutes=(rule.quiet_minutes if rule and rule.quiet_minutes else None)
        or settings.ALERT_QUIET_MINUTES
    )
    with transaction.atomic():
        if not _pass_gate(event, subject[:200], now, quiet):
            return None
        emails, webhook = recipients(rule)
        alert = Alert.objects.create(
            event=event,
            subject=subject[:200],
            title=title[:300],
            detail=detail,
            at=now,
            email_status=SendStatus.PENDING if emails else SendStatus.NONE,
            webhook_status=SendStatus.PENDING if webhook else SendStatus.NONE,
        )
    log.warning("alert %s: %s", event, title)
    return alert


def recipients(rule: AlertRule | None) -> tuple[list[str], str]:
    emails = [e.strip() for e in (rule.emails if rule else "").split(",") if e.strip()]
    return (
        emails or list(settings.ALERT_EMAILS),
        (rule.webhook_url if rule else "") or settings.ALERT_WEBHOOK_URL,
    )


# --- sending ---------------------------------------------------------------------------------


def payload(alert: Alert) -> dict[str, Any]:
    """The webhook's JSON (SPEC §8), with Slack's ``text`` too."""
    return {
        "event": alert.event,
        "at": alert.at.isoformat().replace("+00:00", "Z"),
        "subject": alert.subject,
        "detail": alert.detail,
        "text": f":rotating_light: [{alert.event}] {alert.title}",
    }


def _claim(alert_id: int, column: str) -> bool:
    return bool(
        Alert.objects.filter(pk=alert_id, **{column: SendStatus.PENDING}).update(
            **{column: SendStatus.SENDING}
        )
    )


def deliver(alert_id: int) -> None:
    """Send one alert by email and webhook, each at most once (claimed first)."""
    alert = Alert.objects.get(pk=alert_id)
    emails, webhook = recipients(rule_for(alert.event))
    if emails and _claim(alert.pk, "email_status"):
        _finish(alert, "email_status", _send_email(alert, emails))
    if webhook and _claim(alert.pk, "webhook_status"):
        _finish(alert, "webhook_status", _send_webhook(alert, webhook))


def _finish(alert: Alert, column: str, error: str) -> None:
    fields: dict[str, Any] = {column: SendStatus.FAILED if error else SendStatus.SENT}
    if error:
        fields["send_error"] = error[:300]
    Alert.objects.filter(pk=alert.pk).update(**fields)


def _send_email(alert: Alert, emails: list[str]) -> str:
    body = f"{alert.title}\n\nAt: {alert.at:%Y-%m-%d %H:%M:%S %Z}\nSubject: {alert.subject}\n"
    body += "".join(f"{k}: {v}\n" for k, v in alert.detail.items())
    try:
        send_mail(f"[Switchyard] {alert.title}", body, None, emails)
    except Exception as exc:  # an SMTP server down or refusing: kept on the alert
        log.warning("alert %s: email not sent: %s", alert.pk, exc)
        return f"email: {exc}"
    return ""


def _send_webhook(alert: Alert, url: str) -> str:
    body = json.dumps(payload(alert), separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if settings.ALERT_WEBHOOK_SECRET:
        headers[SIGNATURE_HEADER] = sign(settings.ALERT_WEBHOOK_SECRET, body)
    response = send(
        OutboundRequest(
            "POST", url, body, headers, timeout_s=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS
        )
    )
    if response.status is not None and 200 <= response.status < 300:
        return ""
    problem = response.error or f"HTTP {response.status}"
    log.warning("alert %s: webhook not accepted: %s %s", alert.pk, problem, response.detail)
    return f"webhook: {problem} {response.detail}".strip()


def unsent(older_than: timedelta = timedelta(minutes=1)) -> list[int]:
    """Alerts whose sending never started (a broker that lost the task)."""
    cutoff = timezone.now() - older_than
    pending = Alert.objects.filter(at__lt=cutoff, at__gte=cutoff - timedelta(days=1))
    return list(
        (
            pending.filter(email_status=SendStatus.PENDING)
            | pending.filter(webhook_status=SendStatus.PENDING)
        ).values_list("pk", flat=True)[:100]
    )


# --- noticing --------------------------------------------------------------------------------


def _watch(name: str) -> AlertWatch:
    watch, _ = AlertWatch.objects.get_or_create(name=name)
    return watch


def _circuits(now: datetime) -> list[Alert | None]:
    watch = _watch("circuit_events")
    events = list(
        CircuitEvent.objects.filter(pk__gt=watch.last_id, to_status=CircuitStatus.OPEN)
        .select_related("endpoint__campaign__buyer")
        .order_by("pk")[:500]
    )
    raised = []
    for e in events:
        campaign = e.endpoint.campaign
        raised.append(
            raise_alert(
                AlertEvent.CIRCUIT_OPENED,
                f"endpoint:{e.endpoint_id}",
                f"Circuit opened: {campaign.buyer} / {campaign} {e.endpoint.kind} endpoint",
                {
                    "buyer": campaign.buyer.slug,
                    "campaign": campaign.slug,
                    "endpoint": e.endpoint.kind,
                    "reason": e.reason,
                },
                now=now,
            )
        )
    if events:
        AlertWatch.objects.filter(pk=watch.pk).update(last_id=events[-1].pk)
    return raised


def _since(name: str, now: datetime) -> tuple[AlertWatch, datetime]:
    watch = _watch(name)
    return watch, watch.last_at or now - timedelta(minutes=5)


def _paused(now: datetime) -> list[Alert | None]:
    watch, since = _since("campaign_paused", now)
    raised = [
        raise_alert(
            AlertEvent.CAMPAIGN_PAUSED,
            f"campaign:{c.slug}",
            f"Campaign paused: {c.buyer} / {c}",
            {"buyer": c.buyer.slug, "campaign": c.slug, "reason": c.paused_reason},
            now=now,
        )
        for c in Campaign.objects.filter(paused_at__gt=since, paused_at__lte=now)
        .exclude(paused_reason="")
        .select_related("buyer")
    ]
    AlertWatch.objects.filter(pk=watch.pk).update(last_at=now)
    return raised


def _failed_deliveries(now: datetime) -> list[Alert | None]:
    watch, since = _since("delivery_failed", now)
    rows = (
        Delivery.objects.filter(
            status=DeliveryStatus.FAILED, updated_at__gt=since, updated_at__lte=now
        )
        .values("campaign_id", "campaign__slug", "campaign__buyer__slug")
        .annotate(n=Count("id"), last=Max("updated_at"))
    )
    raised = [
        raise_alert(
            AlertEvent.DELIVERY_FAILED,
            f"campaign:{r['campaign__slug']}",
            f"{r['n']} deliveries to {r['campaign__buyer__slug']} / {r['campaign__slug']} failed",
            {
                "buyer": r["campaign__buyer__slug"],
                "campaign": r["campaign__slug"],
                "failed": r["n"],
            },
            now=now,
        )
        for r in rows
    ]
    AlertWatch.objects.filter(pk=watch.pk).update(last_at=now)
    return raised


def _caps(now: datetime) -> list[Alert | None]:
    near = threshold(AlertEvent.CAP_NEAR, rule_for(AlertEvent.CAP_NEAR)) or Decimal("80")
    raised = []
    for cap in Cap.objects.select_related("campaign__buyer", "buyer"):
        owner = cap.buyer or (cap.campaign.buyer if cap.campaign else None)
        if owner is None:
            continue  # the constraint cap_has_owner makes this unreachable
        leads, spend = usage(cap, now, owner.timezone)
        used = (
            Decimal(leads) * 100 / cap.max_leads
            if cap.max_leads
            else (spend * 100 / cap.max_spend if cap.max_spend else Decimal(0))
        )
        name = f"{owner} / {cap.campaign}" if cap.campaign_id else str(owner)
        detail = {
            "cap": str(cap),
            "owner": name,
            "used_percent": str(used.quantize(Decimal("0.1"))),
        }
        if used >= 100:
            raised.append(
                raise_alert(
                    AlertEvent.CAP_REACHED,
                    f"cap:{cap.pk}",
                    f"Cap reached: {name}, {cap}",
                    detail,
                    now=now,
                )
            )
        elif used >= near:
            raised.append(
                raise_alert(
                    AlertEvent.CAP_NEAR,
                    f"cap:{cap.pk}",
                    f"Cap {used:.0f}% used: {name}, {cap}",
                    detail,
                    now=now,
                )
            )
    return raised


def _return_rates(now: datetime) -> list[Alert | None]:
    rule = rule_for(AlertEvent.RETURN_RATE_EXCEEDED)
    limit = threshold(AlertEvent.RETURN_RATE_EXCEEDED, rule)
    month = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = (
        TrafficHour.objects.filter(hour__gte=month, buyer__isnull=False)
        .values("buyer_id")
        .annotate(sold=Sum("sold"), returns=Sum("returns"))
    )
    buyers = Buyer.objects.in_bulk([r["buyer_id"] for r in rows])
    raised = []
    for r in rows:
        buyer = buyers[r["buyer_id"]]
        allowed = limit if limit is not None else buyer.max_return_percent
        if r["sold"] and Decimal(r["returns"]) * 100 / r["sold"] > allowed:
            rate = (Decimal(r["returns"]) * 100 / r["sold"]).quantize(Decimal("0.1"))
            raised.append(
                raise_alert(
                    AlertEvent.RETURN_RATE_EXCEEDED,
                    f"buyer:{buyer.slug}:{month:%Y-%m}",
                    f"{buyer} returned {rate}% of this month's leads (limit {allowed}%)",
                    {
                        "buyer": buyer.slug,
                        "sold": r["sold"],
                        "returns": r["returns"],
                        "rate": str(rate),
                    },
                    now=now,
                )
            )
    return raised


def _silent_publishers(now: datetime) -> list[Alert | None]:
    minutes = int(
        threshold(AlertEvent.PUBLISHER_SILENT, rule_for(AlertEvent.PUBLISHER_SILENT)) or 30
    )
    hour = timezone.localtime(now).hour
    # Its usual hours: it sent leads in this hour of the day on at least 3 of the last 7 days.
    usual: dict[int, set[Any]] = {}
    for publisher_id, at in TrafficHour.objects.filter(
        hour__gte=now - timedelta(days=7),
        hour__lt=now - timedelta(hours=1),
        campaign__isnull=True,
        pings__gt=0,
    ).values_list("publisher_id", "hour"):
        if timezone.localtime(at).hour == hour:
            usual.setdefault(publisher_id, set()).add(timezone.localtime(at).date())
    regular = [p for p, days in usual.items() if len(days) >= 3]
    if not regular:
        return []
    recent = set(
        Lead.objects.filter(
            created_at__gte=now - timedelta(minutes=minutes), publisher_id__in=regular
        )
        .values_list("publisher_id", flat=True)
        .distinct()
    )
    return [
        raise_alert(
            AlertEvent.PUBLISHER_SILENT,
            f"publisher:{p.slug}",
            f"{p} has sent no lead for {minutes} minutes, in its usual hours",
            {"publisher": p.slug, "minutes": minutes},
            now=now,
        )
        for p in Publisher.objects.filter(pk__in=set(regular) - recent, is_active=True)
    ]


def _acceptance_drops(now: datetime) -> list[Alert | None]:
    points = threshold(AlertEvent.ACCEPTANCE_DROP, rule_for(AlertEvent.ACCEPTANCE_DROP)) or Decimal(
        "20"
    )
    minimum = 20

    def rates(start: datetime, end: datetime) -> dict[int, tuple[int, int]]:
        return {
            r["buyer_id"]: (r["acc"], r["done"])
            for r in TrafficHour.objects.filter(hour__gte=start, hour__lt=end, buyer__isnull=False)
            .values("buyer_id")
            .annotate(acc=Sum("accepted"), done=Sum("delivered"))
        }

    last_hour = rates(now - timedelta(hours=1), now + timedelta(hours=1))
    before = rates(now - timedelta(days=7), now - timedelta(hours=1))
    raised = []
    for buyer_id, (acc, done) in last_hour.items():
        old_acc, old_done = before.get(buyer_id, (0, 0))
        if done < minimum or old_done < minimum:
            continue
        now_rate, old_rate = Decimal(acc) * 100 / done, Decimal(old_acc) * 100 / old_done
        if old_rate - now_rate >= points:
            buyer = Buyer.objects.get(pk=buyer_id)
            raised.append(
                raise_alert(
                    AlertEvent.ACCEPTANCE_DROP,
                    f"buyer:{buyer.slug}",
                    f"{buyer} accepts {now_rate:.0f}% of posts, "
                    f"down from {old_rate:.0f}% over 7 days",
                    {"buyer": buyer.slug, "now": f"{now_rate:.1f}", "before": f"{old_rate:.1f}"},
                    now=now,
                )
            )
    return raised


CHECKS: tuple[Callable[[datetime], list[Alert | None]], ...] = (
    _circuits,
    _paused,
    _failed_deliveries,
    _caps,
    _return_rates,
    _silent_publishers,
    _acceptance_drops,
)


def check(now: datetime | None = None) -> list[int]:
    """Look at everything once; returns the ids of the alerts raised."""
    now = now or timezone.now()
    raised: list[int] = []
    for look in CHECKS:
        try:
            raised += [a.pk for a in look(now) if a is not None]
        except Exception:
            # One broken check (a bad rule) must not silence the others.
            log.exception("alert check %s failed", look.__name__)
    return raised


def acknowledge(alerts: Any, user: Any) -> int:
    """Mark alerts as seen by ``user``; returns how many were not yet acknowledged."""
    return alerts.filter(acknowledged_at__isnull=True).update(
        acknowledged_by=user, acknowledged_at=timezone.now()
    )
