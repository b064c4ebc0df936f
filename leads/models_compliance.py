"""Compliance records: the suppression list, deletion requests and person claims.

Only keyed hashes of phone numbers and email addresses are kept here (a deletion
request holds the person's values, encrypted, until it has been processed).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from plumbing.crypto import EncryptedJSONField


class SuppressionSource(models.TextChoices):
    API = "api", "API"
    CSV = "csv", "CSV upload"
    COMMAND = "command", "Command line"
    ADMIN = "admin", "Admin"
    DELETION = "deletion", "Deletion request"


class Suppression(models.Model):
    """A do-not-contact entry (DNC, opt-out): a person matched by the keyed hash of a
    phone number and/or an email address, never the value itself. A suppressed person
    is answered ``suppressed`` at post and never reaches a buyer."""

    phone_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    email_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    reason = models.CharField(max_length=200, blank=True, default="")
    source = models.CharField(
        max_length=16, choices=SuppressionSource.choices, default=SuppressionSource.ADMIN
    )
    added_by = models.CharField(
        max_length=200, blank=True, default="", help_text="Who asked: an account, a key, a user."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"suppression {self.pk} ({self.get_source_display()})"


class DeletionStatus(models.TextChoices):
    RECEIVED = "received"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class DeletionRequest(models.Model):
    """A person's request to have their personal data erased (right to delete).

    Filed by API, in the admin or by ``manage.py erase_person``; a task erases the
    person's PII from leads, deliveries and logs, keeps every money row, adds the person
    to the suppression list and stamps the request done with what it erased. The
    phone/email given are kept encrypted until then, and only their hashes after."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16,
        choices=DeletionStatus.choices,
        default=DeletionStatus.RECEIVED,
        db_index=True,
    )
    person = EncryptedJSONField(default=dict, blank=True, help_text="Emptied once processed.")
    phone_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    email_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    source = models.CharField(max_length=16, choices=SuppressionSource.choices)
    requested_by = models.CharField(max_length=200, blank=True, default="")
    api_key_id = models.PositiveIntegerField(
        null=True, blank=True, help_text="The API key that filed it, which may follow it."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    leads_erased = models.PositiveIntegerField(default=0)
    deliveries_scrubbed = models.PositiveIntegerField(default=0)
    logs_scrubbed = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"deletion request {str(self.id)[:8]} ({self.status})"


class PersonClaim(models.Model):
    """A person held by one lead: the unique row that makes duplicate checks hold under
    concurrency (see docs/compliance.md).

    ``scope`` is ``v:<vertical id>`` (the global window: one live or sold lead per
    person and vertical) or ``b:<buyer id>`` (a buyer's own window); ``person_hash`` is
    the keyed hash of a phone number or an email address. Inserting the row is the
    claim: of any number of concurrent leads of one person exactly one succeeds. A claim
    in flight (``sold_at`` empty) is released when its lead ends unsold; a sold one
    stays until the window has passed, when the next lead may take it over."""

    scope = models.CharField(max_length=32)
    person_hash = models.CharField(max_length=64)
    lead_id = models.UUIDField(db_index=True)
    claimed_at = models.DateTimeField(default=timezone.now)
    sold_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "person_hash"], name="uniq_person_claim")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.person_hash[:8]} -> {self.lead_id}"
