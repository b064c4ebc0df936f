"""The exchange core: verticals and their field schemas, publishers, API keys."""

from __future__ import annotations

import hashlib
import secrets
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from buyers.models import RATE_LIMIT_RE, validate_networks
from buyers.outbound_guard import validate_outbound_url
from plumbing.crypto import EncryptedTextField
from plumbing.fields import PII_FIELDS, FieldType, Stage

from .choices import KeyKind, PayoutModel, Routing
from .models_quality import CampaignQuality  # noqa: F401  (a model of this app, defined apart)


def new_callback_secret() -> str:
    """A fresh per-publisher secret for signing callbacks."""
    return secrets.token_urlsafe(32)


class Vertical(models.Model):
    """A lead type (auto insurance, solar...) with its own fields and routing."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    routing = models.CharField(
        max_length=16,
        choices=Routing.choices,
        default=Routing.AUCTION,
        help_text="Expected revenue weighs each bid by the campaign's post acceptance and "
        "non-return rates over QUALITY_WINDOW_DAYS (docs/dispositions.md).",
    )
    ping_ttl_seconds = models.PositiveIntegerField(
        default=120, help_text="How long a ping's offer stays valid for a post."
    )
    post_deadline_ms = models.PositiveIntegerField(
        default=8000,
        help_text="How long a synchronous post may spend going down the waterfall before "
        "answering 'pending' and leaving the rest to the workers.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VerticalField(models.Model):
    """A field a vertical adds to the standard ones (or a standard one it re-flags)."""

    vertical = models.ForeignKey(Vertical, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(
        max_length=64,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", "lower_snake_case letters only")],
    )
    type = models.CharField(max_length=16, choices=FieldType.choices, default=FieldType.STRING)
    stage = models.CharField(max_length=8, choices=Stage.choices, default=Stage.PING)
    required_at_ping = models.BooleanField(default=False)
    required_at_post = models.BooleanField(default=False)
    choices = models.JSONField(
        default=list, blank=True, help_text='For type "choice": the allowed values, as a list.'
    )
    position = models.PositiveIntegerField(default=0)

    history = HistoricalRecords()

    class Meta:
        ordering = ["vertical", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["vertical", "name"], name="uniq_vertical_field")
        ]

    def __str__(self) -> str:
        return f"{self.vertical.slug}.{self.name}"

    def clean(self) -> None:
        if self.type == FieldType.CHOICE and not self.choices:
            raise ValidationError({"choices": "A choice field needs its list of choices."})
        if self.required_at_ping and self.stage == Stage.POST:
            raise ValidationError({"required_at_ping": "A post-stage field is not in a ping."})
        if self.name in PII_FIELDS and self.stage == Stage.PING:
            raise ValidationError({"stage": "Personal data is never a ping field."})


class Publisher(models.Model):
    """A seller of leads, paid a payout for each lead sold."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True, help_text="A paused publisher gets 403.")
    payout_model = models.CharField(
        max_length=16, choices=PayoutModel.choices, default=PayoutModel.REVENUE_SHARE
    )
    payout_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("80.00"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Revenue share: the publisher's percentage of the sale price.",
    )
    payout_amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="Fixed payout per sold lead.",
    )
    floor = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="A lead whose payout would be below this is not sold (reason below_floor).",
    )
    allowed_ips = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_networks],
        help_text="CIDR ranges allowed to call the API; empty: any.",
    )
    rate_limit = models.CharField(
        max_length=32,
        blank=True,
        default="",
        validators=[RegexValidator(RATE_LIMIT_RE, "like 100/s, 600/min or 10000/hour")],
        help_text="Requests allowed per key, e.g. 100/s; empty: unlimited.",
    )
    callback_url = models.URLField(blank=True, default="", validators=[validate_outbound_url])
    callback_secret = EncryptedTextField(
        default=new_callback_secret,
        help_text="Signs callbacks: X-Switchyard-Signature is sha256=HMAC-SHA256(secret, body).",
    )
    forward_dispositions = models.BooleanField(
        default=False,
        help_text="Also send buyers' dispositions (contacted, quoted, converted, bad) to the "
        "callback URL, signed like status callbacks.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # History without the secret: a version shows who rotated it, never its value.
    history = HistoricalRecords(excluded_fields=["callback_secret"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def payout_for(self, price: Decimal) -> Decimal:
        """What this publisher earns for a lead sold at ``price``."""
        if self.payout_model == PayoutModel.FIXED:
            return min(self.payout_amount, price)
        return (price * self.payout_percent / Decimal(100)).quantize(Decimal("0.01"))


def hash_key(raw_key: str) -> str:
    # Keys are 190+ bits of randomness, so an unsalted SHA-256 cannot be brute-forced
    # and keeps lookup a single indexed equality.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A publisher (live/test) or buyer API key. Only its hash is stored."""

    kind = models.CharField(max_length=8, choices=KeyKind.choices, default=KeyKind.LIVE)
    publisher = models.ForeignKey(
        Publisher, null=True, blank=True, on_delete=models.CASCADE, related_name="keys"
    )
    buyer = models.ForeignKey(
        "buyers.Buyer", null=True, blank=True, on_delete=models.CASCADE, related_name="keys"
    )
    name = models.CharField(max_length=64, default="main")
    prefix = models.CharField(max_length=24, editable=False, help_text="Shown to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    # Keys' history (made, renamed, revoked) never holds the key's hash.
    history = HistoricalRecords(excluded_fields=["key_hash"])

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="buyer", buyer__isnull=False, publisher__isnull=True)
                    | models.Q(~models.Q(kind="buyer"), publisher__isnull=False, buyer__isnull=True)
                ),
                name="apikey_owner_matches_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate(kind: str) -> str:
        return f"sy_{kind}_{secrets.token_urlsafe(24)}"

    def set_key(self, raw_key: str) -> None:
        self.key_hash = hash_key(raw_key)
        self.prefix = raw_key[:16]

    def revoke(self) -> None:
        self.revoked_at = timezone.now()


class ConfigRevision(models.Model):
    """One row whose number moves on every configuration change, so every process
    can tell cheaply that its compiled configuration is stale."""

    number = models.PositiveBigIntegerField(default=0)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"config revision {self.number}"


class InboundLog(models.Model):
    """One call to the publisher (or buyer) API, refused ones included: what came in
    (the body with personal data masked), the answer's status and error code, the key's
    first characters and how long the answer took. Written after the answer, in batches."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=200)
    status_code = models.PositiveSmallIntegerField(db_index=True)
    error_code = models.CharField(max_length=64, blank=True, default="", db_index=True)
    key_prefix = models.CharField(
        max_length=16,
        blank=True,
        default="",
        db_index=True,
        help_text="The key's first characters.",
    )
    publisher = models.ForeignKey(
        Publisher, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    buyer_id = models.PositiveIntegerField(null=True, blank=True)
    lead_id = models.UUIDField(null=True, blank=True, db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    body = models.TextField(blank=True, default="", help_text="Personal data masked.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status_code}"
