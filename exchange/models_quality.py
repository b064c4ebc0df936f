"""What the exchange knows of each campaign's quality: counts over a recent window.

Reporting computes them from its hourly rollups (``reporting.quality``) and writes them
here, a layer below it, so the configuration cache can read them without importing
reporting; the weights themselves are worked out in ``exchange.quality``.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class CampaignQuality(models.Model):
    """One campaign's post outcomes and returns over the last ``window_days``."""

    campaign = models.OneToOneField(
        "buyers.Campaign", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    window_days = models.PositiveIntegerField()
    delivered = models.PositiveIntegerField(default=0, help_text="Posts the buyer answered.")
    accepted = models.PositiveIntegerField(default=0, help_text="Posts the buyer accepted.")
    sold = models.PositiveIntegerField(default=0)
    returns = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "campaign quality"
        verbose_name_plural = "campaign quality"

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.accepted}/{self.delivered} accepted"
