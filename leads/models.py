"""Leads and everything that happens to them: bids, deliveries, calls, money."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from plumbing.crypto import EncryptedJSONField
from plumbing.money import money_label

from .choices import (
    LeadStatus,
    LedgerKind,
    LogKind,
    ReturnReason,
)
from .models_compliance import (  # noqa: F401  (models of this app, defined apart)
    DeletionRequest,
    PersonClaim,
    Suppression,
)
from .models_dispositions import (  # noqa: F401  (models of this app, defined apart)
    Disposition,
    PostbackReceipt,
    PostbackSecret,
)
from .outbox import Outbox


class IllegalTransition(Exception):
    pass


class Lead(models.Model):
    """One lead. Non-personal fields are in ``data``; personal ones only in the
    encrypted ``pii``, with keyed hashes of phone and email for lookups."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vertical = models.ForeignKey("exchange.Vertical", on_delete=models.PROTECT, related_name="+")
    publisher = models.ForeignKey(
        "exchange.Publisher", on_delete=models.PROTECT, related_name="leads"
    )
    api_key = models.ForeignKey(
        "exchange.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sub_id = models.CharField(max_length=100, blank=True, default="")
    is_test = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=LeadStatus.choices, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    pii = EncryptedJSONField(default=dict, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    email_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    offer_price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Payout offered at ping."
    )
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    sold_campaign = models.ForeignKey(
        "buyers.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    price = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="What the buyer pays."
    )
    payout = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="What the publisher earns.",
    )
    reasons = models.JSONField(default=list, blank=True)
    result = models.JSONField(
        null=True, blank=True, help_text="The answer given to the post, replayed on repeats."
    )
    trace = models.JSONField(
        default=list, blank=True, help_text="Why each campaign was or was not pinged."
    )
    lease_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Whoever moves this lead down its waterfall holds it until then (a "
        "conditional UPDATE takes it), so two workers never post it at once.",
    )
    pii_erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    sold_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        # Seeing a lead's personal data in clear is its own right, granted to named
        # people (no role has it), and every use is recorded as a PiiReveal.
        permissions = [("reveal_pii", "Can reveal a lead's personal data")]
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="uniq_lead_idempotency_key",
            )
        ]
        indexes = [
            # The admin's search ORs sub_id with the id range and the person hashes; with
            # every branch indexed it stays a bitmap of index scans, not a table scan.
            models.Index(fields=["sub_id"], name="lead_sub_id"),
            # Test leads are few: statements exclude them with an anti-join on this
            # small index instead of joining every ledger row to its lead.
            models.Index(fields=["id"], condition=models.Q(is_test=True), name="lead_test_ids"),
            # Reconciliation looks up a month's sold leads by sale time.
            models.Index(
                fields=["sold_at"],
                include=["status", "id"],
                condition=models.Q(sold_at__isnull=False, is_test=False),
                name="lead_sold_live",
            ),
        ]

    def __str__(self) -> str:
        return str(self.id)


class LeadEvent(models.Model):
    """One status change of a lead: the publisher-visible timeline."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16)
    note = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status}"


class Bid(models.Model):
    """A campaign's answer to a ping."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="bids")
    campaign = models.ForeignKey("buyers.Campaign", on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=16)
    price = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    reference = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    rank = models.PositiveIntegerField(null=True, blank=True, help_text="1 = best; empty: no bid.")
    latency_ms = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lead", "rank"]

    def __str__(self) -> str:
        price = "" if self.price is None else money_label(self.price)
        return f"{self.campaign_id}: {self.outcome} {price}".strip()


class Delivery(Outbox):
    """Posting a lead to one campaign: an outbox row (``leads.outbox``), claimed by a
    conditional UPDATE before every attempt, so duplicate tasks and sweepers are harmless."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="deliveries")
    campaign = models.ForeignKey("buyers.Campaign", on_delete=models.PROTECT, related_name="+")
    bid = models.ForeignKey(Bid, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rank = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=12, decimal_places=4)
    reservation = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="What the attempt in flight took from the caps; given back if it dies.",
    )
    buyer_reference = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["lead", "rank"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["lead", "campaign"], name="uniq_delivery_per_campaign")
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} → {self.campaign_id} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        """Stable per (lead, campaign), sent on every attempt so buyers can dedupe."""
        return f"{self.lead_id}:{self.campaign_id}"


class PublisherCallback(Outbox):
    """A signed status event owed to the publisher's callback URL, one per status change
    (``event``). Like a delivery it is an outbox row (``leads.outbox``), claimed by a
    conditional UPDATE before every attempt, so retries, duplicate tasks and the sweeper
    never send it twice at once and never lose it."""

    # What the callback reports: a status change, or (when the publisher asked for them)
    # a buyer's disposition.
    event = models.OneToOneField(
        LeadEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="callback"
    )
    disposition = models.OneToOneField(
        Disposition, null=True, blank=True, on_delete=models.CASCADE, related_name="callback"
    )
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="callbacks")
    publisher = models.ForeignKey(
        "exchange.Publisher", on_delete=models.CASCADE, related_name="callbacks"
    )
    payload = models.JSONField(help_text="The event as sent; signed as compact JSON.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        what = self.payload.get("status") or self.payload.get("disposition", "")
        return f"{self.lead_id} {what} callback ({self.status})"


class TransactionLog(models.Model):
    """Every outbound call, with timing and outcome; bodies stored with PII masked."""

    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="calls"
    )
    campaign = models.ForeignKey(
        "buyers.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # led by the (campaign, kind, created_at) index below
    )
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    kind = models.CharField(max_length=16, choices=LogKind.choices)
    is_test = models.BooleanField(default=False)
    method = models.CharField(max_length=8, default="POST")
    url = models.URLField(max_length=500)
    request_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True, default="")
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="")
    outcome = models.CharField(max_length=16, db_index=True)
    error = models.CharField(max_length=300, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    attempt = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # A campaign's recent calls of one kind (the circuit breakers' failure ratio,
            # auto-pause's p95): a range of the index, however long the history.
            models.Index(fields=["campaign", "kind", "created_at"], name="txlog_campaign_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.url} {self.outcome}"


class LedgerEntry(models.Model):
    """A money movement. Sales, returns and adjustments are the only way money moves;
    statements are sums of these rows. ``margin`` is always ``charge - payout``."""

    kind = models.CharField(max_length=16, choices=LedgerKind.choices)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    buyer = models.ForeignKey(
        "buyers.Buyer", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    campaign = models.ForeignKey(
        "buyers.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    publisher = models.ForeignKey(
        "exchange.Publisher", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    charge = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=Decimal("0"),
        help_text="Buyer owes (+) / credit (−).",
    )
    payout = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=Decimal("0"),
        help_text="Publisher earns (+) / debit (−).",
    )
    margin = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    remnant = models.BooleanField(
        default=False,
        help_text="A sale to a fallback campaign (the remnant market), or its return.",
    )
    reason = models.CharField(max_length=200, blank=True, default="")
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "ledger entries"
        constraints = [
            # A tolerance far below the 4th decimal: SQLite does this arithmetic in
            # floating point; PostgreSQL's numeric is exact either way.
            models.CheckConstraint(
                condition=models.Q(
                    margin__gte=models.F("charge") - models.F("payout") - Decimal("0.00001"),
                    margin__lte=models.F("charge") - models.F("payout") + Decimal("0.00001"),
                ),
                name="ledger_margin_is_charge_minus_payout",
            ),
            # At most one sale row per lead, whatever writes it (reconciliation then
            # only has to look for sold leads with none).
            models.UniqueConstraint(
                fields=["lead"],
                condition=models.Q(kind="sale"),
                name="ledger_one_sale_per_lead",
            ),
        ]
        indexes = [
            # A party's statement is a range of one of these; on PostgreSQL the
            # included columns make it an index-only scan (see docs/finance.md).
            models.Index(
                fields=["buyer", "created_at"],
                include=["kind", "charge", "margin"],
                name="ledger_buyer_date",
            ),
            models.Index(
                fields=["publisher", "created_at"],
                include=["kind", "payout", "margin"],
                name="ledger_publisher_date",
            ),
            # Reconciliation compares each day's sold leads with its sale rows, and
            # reads the month's returns, without touching the table (index-only).
            models.Index(
                fields=["created_at"],
                include=["lead_id"],
                condition=models.Q(kind="sale"),
                name="ledger_sales_by_date",
            ),
            models.Index(
                fields=["created_at"],
                include=["reverses_id", "lead_id"],
                condition=models.Q(kind="return"),
                name="ledger_returns_by_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {money_label(self.charge)}/{money_label(self.payout)}"


class Return(models.Model):
    """A buyer sending a sold lead back within its return window."""

    lead = models.OneToOneField(Lead, on_delete=models.PROTECT, related_name="return_record")
    buyer = models.ForeignKey("buyers.Buyer", on_delete=models.PROTECT, related_name="returns")
    reason = models.CharField(max_length=32, choices=ReturnReason.choices)
    note = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"return of {self.lead_id} ({self.reason})"


class ClosedPeriod(models.Model):
    """A closed accounting month: no ledger row may be written, changed or removed with
    a date in ``[starts_at, ends_at)``. The bounds are the month in the exchange's
    ``TIME_ZONE``, stored as instants so the database trigger needs no timezone rules."""

    month = models.DateField(unique=True, help_text="The first day of the closed month.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    closed_at = models.DateTimeField(default=timezone.now)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-month"]
        verbose_name = "closed period"

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} (closed)"


class PiiReveal(models.Model):
    """Who saw which lead's personal data in clear, when, and why they said they did."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="pii_reveals")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pii_reveals"
    )
    reason = models.CharField(max_length=200)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = "personal data reveal"

    def __str__(self) -> str:
        return f"{self.user} saw {self.lead_id} at {self.at:%Y-%m-%d %H:%M}"
