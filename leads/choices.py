from __future__ import annotations

from django.db import models


class LeadStatus(models.TextChoices):
    PINGED = "pinged"
    NO_SALE = "no_sale", "Ping not accepted"
    POSTING = "posting"
    PENDING = "pending"
    SOLD = "sold"
    REJECTED = "rejected"
    FAILED = "failed"
    RETURNED = "returned"


# Every legal move of a lead's status; anything else is a bug and raises.
LEAD_TRANSITIONS: dict[str, frozenset[str]] = {
    LeadStatus.PINGED: frozenset({LeadStatus.POSTING}),
    LeadStatus.NO_SALE: frozenset(),
    LeadStatus.POSTING: frozenset(
        {LeadStatus.SOLD, LeadStatus.REJECTED, LeadStatus.PENDING, LeadStatus.FAILED}
    ),
    LeadStatus.PENDING: frozenset({LeadStatus.SOLD, LeadStatus.REJECTED, LeadStatus.FAILED}),
    LeadStatus.FAILED: frozenset({LeadStatus.PENDING, LeadStatus.SOLD}),
    LeadStatus.SOLD: frozenset({LeadStatus.RETURNED}),
    LeadStatus.REJECTED: frozenset(),
    LeadStatus.RETURNED: frozenset(),
}


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    RETRY = "retry", "Waiting to retry"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"
    SKIPPED = "skipped", "Not needed (sold elsewhere)"


class LogKind(models.TextChoices):
    PING = "ping"
    POST = "post"
    CALLBACK = "callback"
    TOKEN = "token"


class LedgerKind(models.TextChoices):
    SALE = "sale"
    RETURN = "return"
    ADJUSTMENT = "adjustment"


class ReturnReason(models.TextChoices):
    BAD_DATA = "bad_data", "Bad or fake data"
    DUPLICATE = "duplicate", "Duplicate"
    DISCONNECTED = "disconnected", "Disconnected phone"
    NO_CONTACT = "no_contact", "Could not contact"
    NOT_INTERESTED = "not_interested", "Consumer not interested"
    OTHER = "other"


class DispositionEvent(models.TextChoices):
    """What a buyer reports became of a lead it bought."""

    CONTACTED = "contacted"
    QUOTED = "quoted"
    CONVERTED = "converted"
    BAD = "bad"


class DispositionSource(models.TextChoices):
    API = "api", "Buyer API (key)"
    POSTBACK = "postback", "Signed postback URL"
