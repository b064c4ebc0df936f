"""Buyers and everything a campaign needs to be pinged, posted and capped."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from plumbing.crypto import EncryptedTextField

from .choices import (
    AuthType,
    BodyFormat,
    CapPeriod,
    CircuitStatus,
    EndpointKind,
    HttpMethod,
    PricingModel,
)
from .mail import email_problems, validate_endpoint_url
from .outbound_guard import validate_outbound_url
from .pricing import validate_price_modifiers
from .throttle import validate_throttle

# Also the publishers' (exchange.models): one grammar for every API key's limit.
RATE_LIMIT_RE = r"^\d+/(s|sec|second|m|min|minute|h|hour)$"


def validate_networks(value: object) -> None:
    """A list of CIDR ranges (``["203.0.113.0/24", "2001:db8::/32"]``)."""
    import ipaddress

    if not isinstance(value, list):
        raise ValidationError("Expected a list of IP ranges like 203.0.113.0/24.")
    for item in value:
        try:
            ipaddress.ip_network(str(item).strip(), strict=False)
        except ValueError as exc:
            raise ValidationError(f"{item!r} is not an IP range like 203.0.113.0/24.") from exc


def validate_timezone(value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a known time zone (e.g. America/Chicago)") from exc


CAP_NEEDS_LIMIT = "A cap limits leads, spend or both: give a number of leads or an amount."
MAX_BACKOFF_SECONDS = 86400


def backoff_problems(value: object) -> list[str]:
    """What is wrong with a retry backoff: a list of whole seconds, each 1 to a day."""
    if not isinstance(value, list):
        return ["Retry backoff is a list of whole seconds, e.g. [2, 4, 8]."]
    problems = []
    for i, step in enumerate(value, 1):
        if isinstance(step, bool) or not isinstance(step, int):
            problems.append(f"Retry {i}: {step!r} is not a whole number of seconds.")
        elif not 1 <= step <= MAX_BACKOFF_SECONDS:
            problems.append(f"Retry {i}: {step} s is out of range (1 to {MAX_BACKOFF_SECONDS}).")
    return problems


def validate_backoff(value: object) -> None:
    problems = backoff_problems(value)
    if problems:
        raise ValidationError(problems)


def default_max_bid() -> Decimal:
    """The ``MAX_BID`` setting: the highest bid a new campaign takes."""
    return Decimal(settings.MAX_BID).quantize(Decimal("0.01"))


class Buyer(models.Model):
    """An advertiser account: billing, timezone and return policy for its campaigns."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    return_window_days = models.PositiveIntegerField(default=7)
    max_return_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("20.00"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Most returns allowed in a calendar month, as a % of that month's purchases.",
    )
    billing_email = models.EmailField(blank=True, default="")
    allowed_ips = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_networks],
        help_text="CIDR ranges the buyer's API keys may call from; empty: any.",
    )
    rate_limit = models.CharField(
        max_length=32,
        blank=True,
        default="",
        validators=[RegexValidator(RATE_LIMIT_RE, "like 100/s, 600/min or 10000/hour")],
        help_text="Requests allowed per buyer key, e.g. 10/s; empty: unlimited.",
    )
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Credential(models.Model):
    """How an endpoint authenticates to a buyer's API. The secret is stored encrypted,
    or named as an environment variable so it never enters the database."""

    buyer = models.ForeignKey(Buyer, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=AuthType.choices, default=AuthType.NONE)
    header_name = models.CharField(
        max_length=100, blank=True, default="", help_text="Header key / HMAC: the header name."
    )
    username = models.CharField(max_length=200, blank=True, default="", help_text="Basic auth.")
    token_url = models.URLField(
        blank=True,
        default="",
        validators=[validate_outbound_url],
        help_text="OAuth2 token endpoint.",
    )
    client_id = models.CharField(max_length=200, blank=True, default="")
    scope = models.CharField(max_length=200, blank=True, default="")
    secret = EncryptedTextField(
        blank=True,
        default="",
        help_text="Header value, password, bearer token, OAuth2 client secret or HMAC key.",
    )
    secret_env = models.CharField(
        max_length=100, blank=True, default="", help_text="Or: the environment variable holding it."
    )

    # History without the secret: restoring a version keeps the current one.
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["buyer", "name"]
        constraints = [
            models.UniqueConstraint(fields=["buyer", "name"], name="uniq_credential_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_type_display()})"


class Campaign(models.Model):
    """One buyer's standing order for one vertical."""

    buyer = models.ForeignKey(Buyer, on_delete=models.CASCADE, related_name="campaigns")
    vertical = models.ForeignKey(
        "exchange.Vertical", on_delete=models.PROTECT, related_name="campaigns"
    )
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, blank=True, default="")
    is_active = models.BooleanField(default=True)
    paused_reason = models.CharField(
        max_length=200, blank=True, default="", help_text="Set when the exchange paused it."
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    pricing_model = models.CharField(
        max_length=16, choices=PricingModel.choices, default=PricingModel.DYNAMIC
    )
    fixed_price = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"), "A price is at least 0.01.")],
        help_text="For fixed pricing.",
    )
    min_bid = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal(0), "A minimum bid cannot be negative.")],
        help_text="Dynamic bids below this are ignored.",
    )
    max_bid = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=default_max_bid,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("99999999.99"))],
        help_text="A bid above this is a bad response and never wins (default: MAX_BID).",
    )
    priority = models.IntegerField(
        default=0, help_text="Higher wins ties (auction) or goes first (priority routing)."
    )
    filters = models.JSONField(
        default=list, blank=True, help_text='A list of {"field", "op", "value"} or {"any": [...]}.'
    )
    schedule = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"mon-fri": "08:00-20:00"}; empty: always open.'
    )
    require_tcpa_consent = models.BooleanField(
        default=False, help_text="Only leads with tcpa_consent true."
    )
    require_trustedform = models.BooleanField(
        default=False, help_text="Only leads with a TrustedForm certificate that verifies."
    )
    require_jornaya = models.BooleanField(
        default=False, help_text="Only leads with a Jornaya LeadiD that verifies."
    )
    dedupe_days = models.PositiveIntegerField(
        default=30,
        help_text="Skip a person this buyer already bought within this many days (0: never).",
    )
    max_attempts = models.PositiveIntegerField(
        default=5,
        validators=[
            MinValueValidator(1, "At least 1 attempt."),
            MaxValueValidator(20, "At most 20 attempts."),
        ],
        help_text="Post attempts for retryable failures before the next bidder.",
    )
    retry_backoff = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_backoff],
        help_text="Seconds between retries; empty: 2, 4, 8, 16, 32.",
    )
    max_timeout_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(Decimal(0), "A rate is a percentage from 0 to 100."),
            MaxValueValidator(Decimal(100), "A rate is a percentage from 0 to 100."),
        ],
        help_text="Auto-pause when the ping timeout rate (%) over the last window exceeds this.",
    )
    max_p95_latency_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1, "A latency limit is at least 1 ms.")],
        help_text="Auto-pause when the ping p95 latency (ms) over the last window exceeds this.",
    )
    fallback = models.BooleanField(
        default=False,
        help_text="Remnant buyer: offered a lead only when no other bid clears the floor, "
        "at its fixed price.",
    )
    price_modifiers = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_price_modifiers],
        help_text='Fixed price only: e.g. [{"when": {"field": "state", "op": "in", '
        '"value": ["CA", "NY"]}, "add": "2.00"}] or "multiply": "1.10"; applied in order.',
    )
    throttle = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_throttle],
        help_text='Most pings this campaign takes, shared by every process: e.g. {"pings": 300, '
        '"per": "5m"} (per: 1s, 1m, 5m, 1h...); empty: no limit.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["buyer__name", "slug"]

    def __str__(self) -> str:
        return self.name or self.slug

    def clean(self) -> None:
        if self.pricing_model == PricingModel.FIXED and self.fixed_price is None:
            raise ValidationError({"fixed_price": "A fixed-price campaign needs its price."})
        if self.pricing_model != PricingModel.FIXED:
            if self.fallback:
                raise ValidationError({"fallback": "A fallback campaign buys at a fixed price."})
            if self.price_modifiers:
                raise ValidationError(
                    {"price_modifiers": "Price modifiers apply to a fixed price only."}
                )


class Endpoint(models.Model):
    """A campaign's ping or post endpoint: where, in what format, with what mapping."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="endpoints")
    kind = models.CharField(max_length=8, choices=EndpointKind.choices)
    url = models.CharField(
        max_length=500,
        validators=[validate_endpoint_url],
        help_text="http(s) URL; for e-mail delivery: mailto:leads@buyer.example.",
    )
    test_url = models.URLField(
        max_length=500,
        blank=True,
        default="",
        validators=[validate_outbound_url],
        help_text="Used for test-key leads; empty: simulated.",
    )
    method = models.CharField(max_length=8, choices=HttpMethod.choices, default=HttpMethod.POST)
    format = models.CharField(max_length=8, choices=BodyFormat.choices, default=BodyFormat.JSON)
    headers = models.JSONField(default=dict, blank=True)
    timeout_ms = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(10), MaxValueValidator(60000)]
    )
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.SET_NULL, related_name="endpoints"
    )
    mapping = models.JSONField(
        default=list,
        blank=True,
        help_text='Ordered rules, e.g. [{"to": "zip_code", "from": "zip"}].',
    )
    response = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            'How to read the answer, e.g. {"accepted": {"path": "status", "equals": ["ok"]}}.'
        ),
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["campaign", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "kind"], name="uniq_campaign_endpoint")
        ]

    def __str__(self) -> str:
        return f"{self.campaign.slug} {self.kind}"

    def clean(self) -> None:
        problems = email_problems(self.kind, self.format, self.url or "")
        if problems:
            raise ValidationError({"format": problems})


class MappingVersion(models.Model):
    """A saved state of an endpoint's mapping and response rules: the change history."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    mapping = models.JSONField(default=list)
    response = models.JSONField(default=dict)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["endpoint", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "number"], name="uniq_mapping_version")
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} v{self.number}"


class Cap(models.Model):
    """A limit on sold leads or spend per period, for a campaign or a whole buyer."""

    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="caps"
    )
    buyer = models.ForeignKey(
        Buyer, null=True, blank=True, on_delete=models.CASCADE, related_name="caps"
    )
    period = models.CharField(max_length=8, choices=CapPeriod.choices)
    max_leads = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1, "A lead cap is at least 1.")]
    )
    max_spend = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"), "A spend cap is at least 0.01.")],
    )

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(campaign__isnull=False) | models.Q(buyer__isnull=False),
                name="cap_has_owner",
            ),
            models.CheckConstraint(
                condition=models.Q(max_leads__isnull=False) | models.Q(max_spend__isnull=False),
                name="cap_has_limit",
                # What the admin says instead of "Constraint “cap_has_limit” is violated."
                violation_error_message=CAP_NEEDS_LIMIT,
            ),
        ]

    def __str__(self) -> str:
        limit = f"{self.max_leads} leads" if self.max_leads is not None else f"${self.max_spend}"
        return f"{limit} per {self.period}"

    @property
    def owner(self) -> Buyer:
        """The buyer whose cap this is: its own, or its campaign's."""
        if self.buyer is not None:
            return self.buyer
        assert self.campaign is not None  # a cap names a buyer or a campaign (constraint)
        return self.campaign.buyer


class CapCounter(models.Model):
    """What a cap has used in one period window; raised by a conditional UPDATE at the
    sale so concurrent posts can never pass the limit."""

    cap = models.ForeignKey(Cap, on_delete=models.CASCADE, related_name="counters")
    window_start = models.DateTimeField()
    leads = models.PositiveIntegerField(default=0)
    spend = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cap", "window_start"], name="uniq_cap_window")
        ]

    def __str__(self) -> str:
        return f"{self.cap} from {self.window_start:%Y-%m-%d %H:%M}: {self.leads} leads"


class CircuitState(models.Model):
    """The circuit breaker of one endpoint, shared by every web and worker process."""

    endpoint = models.OneToOneField(Endpoint, on_delete=models.CASCADE, related_name="circuit")
    status = models.CharField(
        max_length=16, choices=CircuitStatus.choices, default=CircuitStatus.CLOSED
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.status}"


class CircuitEvent(models.Model):
    """One move of an endpoint's circuit (opened, probing, closed) and why: its history."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="circuit_events")
    from_status = models.CharField(max_length=16, choices=CircuitStatus.choices)
    to_status = models.CharField(max_length=16, choices=CircuitStatus.choices)
    reason = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.endpoint_id}: {self.from_status} -> {self.to_status}"
