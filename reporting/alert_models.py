"""Alerts (SPEC §8): the rules account managers edit and every alert raised."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone


class AlertEvent(models.TextChoices):
    CIRCUIT_OPENED = "circuit_opened", "A buyer endpoint's circuit opened"
    CAMPAIGN_PAUSED = "campaign_paused", "A campaign was paused by the exchange"
    CAP_REACHED = "cap_reached", "A cap is reached"
    CAP_NEAR = "cap_near", "A cap is nearly reached (threshold %)"
    DELIVERY_FAILED = "delivery_failed", "A post delivery failed for good"
    RETURN_RATE_EXCEEDED = "return_rate_exceeded", "A buyer's returns exceed its limit"
    PUBLISHER_SILENT = "publisher_silent", "A publisher sent nothing in its usual hours"
    ACCEPTANCE_DROP = "acceptance_drop", "A buyer's post acceptance dropped"


# What ``threshold`` means for each event, and its default.
THRESHOLDS: dict[str, tuple[str, Decimal | None]] = {
    AlertEvent.CAP_NEAR: ("percent of the cap used", Decimal("80")),
    AlertEvent.RETURN_RATE_EXCEEDED: (
        "returns as % of the month's sales (empty: the buyer's own limit)",
        None,
    ),
    AlertEvent.PUBLISHER_SILENT: ("minutes without a lead", Decimal("30")),
    AlertEvent.ACCEPTANCE_DROP: (
        "drop in percentage points against the last 7 days",
        Decimal("20"),
    ),
}


class AlertRule(models.Model):
    """Who hears about one kind of event, and when. Without a rule an event still
    alerts, with the settings' recipients (``ALERT_EMAILS``, ``ALERT_WEBHOOK_URL``)."""

    event = models.CharField(max_length=32, choices=AlertEvent.choices, unique=True)
    is_active = models.BooleanField(default=True, help_text="Off: this event raises no alert.")
    emails = models.TextField(
        blank=True,
        default="",
        help_text="Comma-separated addresses; empty: ALERT_EMAILS.",
    )
    webhook_url = models.URLField(
        blank=True, default="", help_text="Slack-compatible webhook; empty: ALERT_WEBHOOK_URL."
    )
    threshold = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="cap_near: % used (80); return_rate_exceeded: % of sales (empty: the "
        "buyer's limit); publisher_silent: minutes (30); acceptance_drop: points (20).",
    )
    quiet_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="One alert per subject this often; empty: ALERT_QUIET_MINUTES.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["event"]

    def __str__(self) -> str:
        return self.get_event_display()


class SendStatus(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    NONE = "none", "No recipient"


class Alert(models.Model):
    """One alert raised: what happened to what, whom it reached, who acknowledged it."""

    event = models.CharField(max_length=32, choices=AlertEvent.choices, db_index=True)
    subject = models.CharField(max_length=200, help_text="What it is about, e.g. endpoint:12.")
    title = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    email_status = models.CharField(
        max_length=8, choices=SendStatus.choices, default=SendStatus.PENDING
    )
    webhook_status = models.CharField(
        max_length=8, choices=SendStatus.choices, default=SendStatus.PENDING
    )
    send_error = models.CharField(max_length=300, blank=True, default="")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return self.title


class AlertGate(models.Model):
    """The quiet period of one (event, subject): an alert is raised only by the one
    conditional upsert that finds no gate or an expired one, so concurrent checkers
    never send two."""

    event = models.CharField(max_length=32)
    subject = models.CharField(max_length=200)
    quiet_until = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "subject"], name="uniq_alert_gate")]

    def __str__(self) -> str:
        return f"{self.event} {self.subject} quiet until {self.quiet_until}"


class AlertWatch(models.Model):
    """How far the checker has read one source of events (an id or a time)."""

    name = models.CharField(max_length=32, unique=True)
    last_id = models.BigIntegerField(default=0)
    last_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_id or self.last_at}"
