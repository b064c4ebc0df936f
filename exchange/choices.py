from __future__ import annotations

from django.db import models


class Routing(models.TextChoices):
    AUCTION = "auction", "Auction (highest bid wins)"
    PRIORITY = "priority", "Priority (ping tree)"
    EXPECTED_REVENUE = "expected_revenue", "Expected revenue (bid × buyer quality)"


class PayoutModel(models.TextChoices):
    REVENUE_SHARE = "revenue_share", "Revenue share (%)"
    FIXED = "fixed", "Fixed amount"


class KeyKind(models.TextChoices):
    LIVE = "live", "Publisher, live"
    TEST = "test", "Publisher, test"
    BUYER = "buyer", "Buyer"
