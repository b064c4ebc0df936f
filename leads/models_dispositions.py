"""Dispositions: what buyers report became of the leads they bought, and the secrets
and receipts of their signed postback URLs (``leads.dispositions``)."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

from plumbing.crypto import EncryptedTextField

from .choices import DispositionEvent, DispositionSource


def new_postback_secret() -> str:
    return secrets.token_urlsafe(32)


class Disposition(models.Model):
    """One event a buyer reported for one lead it bought: at most one of each kind per
    lead (a repeat is answered with the first), so rates count leads, not reports."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="dispositions")
    campaign = models.ForeignKey("buyers.Campaign", on_delete=models.PROTECT, related_name="+")
    buyer = models.ForeignKey("buyers.Buyer", on_delete=models.PROTECT, related_name="+")
    event = models.CharField(max_length=16, choices=DispositionEvent.choices)
    at = models.DateTimeField(help_text="When it happened, as the buyer says.")
    value = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="What the buyer says it was worth (e.g. a policy's premium).",
    )
    source = models.CharField(max_length=16, choices=DispositionSource.choices)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["lead", "at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["lead", "event"], name="uniq_disposition_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} {self.event}"


class PostbackSecret(models.Model):
    """The secret a campaign's postback URL is signed with (HMAC-SHA256); made for a
    campaign when it is first needed, rotated from the campaign's admin page."""

    campaign = models.OneToOneField(
        "buyers.Campaign", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    secret = EncryptedTextField(default=new_postback_secret)
    rotated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"postback secret of campaign {self.campaign_id}"


class PostbackReceipt(models.Model):
    """A signed postback already used: its signature is unique, so the same signed
    request sent twice (a replay) is refused by the database, whichever process gets it."""

    campaign = models.ForeignKey("buyers.Campaign", on_delete=models.CASCADE, related_name="+")
    signature = models.CharField(max_length=64)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "signature"], name="uniq_postback_signature"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.signature[:12]}"
