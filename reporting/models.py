"""Reporting's tables. Finance documents (invoices and credit notes, frozen once
issued) live here; the dashboard's hourly rollups and the alerts in their own modules.

Finance documents: invoices and credit notes, frozen once issued.

An invoice copies its statement's totals and lines when it is issued; later returns
or adjustments never change it (they land in an open period, on the next invoice).
Voiding issues a credit note for the same amounts; nothing is ever deleted.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from .alert_models import Alert, AlertGate, AlertRule, AlertWatch  # noqa: F401  (models of this app)
from .rollup_models import (  # noqa: F401
    CallHour,
    ConversionHour,
    ReasonHour,
    RollupState,
    TrafficHour,
)


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CREDIT_NOTE = "credit_note", "Credit note"


# The number prefix of each kind: SY-2026-0001, CN-2026-0001.
PREFIXES = {DocumentKind.INVOICE: "SY", DocumentKind.CREDIT_NOTE: "CN"}


class DocumentSequence(models.Model):
    """The last number used per kind and year; its row is locked while a number is
    taken, so numbers are consecutive and a rolled-back issue leaves no gap."""

    kind = models.CharField(max_length=16, choices=DocumentKind.choices)
    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "year"], name="uniq_doc_sequence")]

    def __str__(self) -> str:
        return f"{PREFIXES[DocumentKind(self.kind)]}-{self.year}: {self.last}"


class Invoice(models.Model):
    """A buyer's invoice (or a credit note voiding one) for a closed period, frozen."""

    kind = models.CharField(
        max_length=16, choices=DocumentKind.choices, default=DocumentKind.INVOICE
    )
    number = models.CharField(max_length=20, unique=True, editable=False)
    year = models.PositiveIntegerField(editable=False)
    sequence = models.PositiveIntegerField(editable=False)
    buyer = models.ForeignKey("buyers.Buyer", on_delete=models.PROTECT, related_name="invoices")
    buyer_name = models.CharField(max_length=200, help_text="The buyer's name when issued.")
    period_from = models.DateField()
    period_to = models.DateField(help_text="Inclusive.")
    currency = models.CharField(max_length=3, default="USD")
    sales_count = models.PositiveIntegerField(default=0)
    gross = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    returns_count = models.PositiveIntegerField(default=0)
    returns = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    adjustments_count = models.PositiveIntegerField(default=0)
    adjustments = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    net = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    credit_for = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_note",
        help_text="For a credit note: the invoice it voids.",
    )
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "year", "sequence"], name="uniq_invoice_number")
        ]
        permissions = [
            ("view_statements", "Can view statements, reconciliation and invoices"),
            ("close_period", "Can close an accounting period"),
            ("issue_invoice", "Can issue and void invoices"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_voided(self) -> bool:
        return self.kind == DocumentKind.INVOICE and hasattr(self, "credit_note")


class InvoiceLine(models.Model):
    """One ledger row as it stood when the invoice was issued (copied, not linked, so
    the invoice reads the same forever)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    entry_id = models.BigIntegerField(help_text="The ledger entry copied.")
    date = models.DateTimeField()
    lead_id = models.UUIDField(null=True, blank=True)
    kind = models.CharField(max_length=16)
    description = models.CharField(max_length=200, blank=True, default="")
    amount = models.DecimalField(max_digits=12, decimal_places=4)

    class Meta:
        ordering = ["date", "entry_id"]

    def __str__(self) -> str:
        return f"{self.invoice.number}: {self.kind} {self.amount}"
