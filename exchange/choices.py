from __future__ import annotations

from django.db import models


class Routing(models.TextChoices):
    AUCTION = "auction", "Auction (highest bid wins)"
    PRIORITY = "priority", "Priority (ping tree)"


class FieldType(models.TextChoices):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"
    ZIP = "zip"
    STATE = "state"
    PHONE = "phone"
    EMAIL = "email"
    URL = "url"
    IP = "ip"


class Stage(models.TextChoices):
    PING = "ping"
    POST = "post"


class PayoutModel(models.TextChoices):
    REVENUE_SHARE = "revenue_share", "Revenue share (%)"
    FIXED = "fixed", "Fixed amount"


class KeyKind(models.TextChoices):
    LIVE = "live", "Publisher, live"
    TEST = "test", "Publisher, test"
    BUYER = "buyer", "Buyer"
