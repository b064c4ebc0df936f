"""Hourly rollups: what the dashboard, the admin lists and the alerts read.

One row per hour × vertical × publisher × campaign (``campaign`` empty: the figures
that belong to the lead, not to one buyer). Rows are recomputed from the raw rows a
whole hour at a time (``reporting.rollups``), so recomputing twice gives the same
rows: replays, crashes and overlapping refreshes are harmless.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models

# Upper bounds (ms) of the latency histogram's buckets; the last one is open.
LATENCY_BOUNDS_MS: tuple[int, ...] = (25, 50, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000)
BUCKET_FIELDS: tuple[str, ...] = tuple(f"le_{b}" for b in LATENCY_BOUNDS_MS) + ("le_inf",)


def _money() -> models.DecimalField:
    return models.DecimalField(max_digits=16, decimal_places=4, default=Decimal("0"))


class TrafficHour(models.Model):
    """One hour of one publisher's leads in one vertical, as one campaign saw them
    (or, with no campaign, as the exchange saw them: pings and posts received)."""

    hour = models.DateTimeField(help_text="Start of the hour (UTC).")
    vertical = models.ForeignKey("exchange.Vertical", on_delete=models.CASCADE, related_name="+")
    publisher = models.ForeignKey("exchange.Publisher", on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(
        "buyers.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    buyer = models.ForeignKey(
        "buyers.Buyer", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The lead's rows (no campaign).
    pings = models.PositiveIntegerField(
        default=0, help_text="Leads received (pings, direct posts)."
    )
    posts = models.PositiveIntegerField(default=0, help_text="Leads posted (full data sent).")
    # The campaign's rows.
    asked = models.PositiveIntegerField(default=0, help_text="Leads this campaign was offered.")
    bids = models.PositiveIntegerField(default=0, help_text="Bids that ranked.")
    bid_total = _money()
    won = models.PositiveIntegerField(default=0, help_text="Bids that ranked first.")
    delivered = models.PositiveIntegerField(default=0, help_text="Post deliveries finished.")
    accepted = models.PositiveIntegerField(default=0, help_text="Deliveries the buyer accepted.")
    sold = models.PositiveIntegerField(default=0)
    revenue = _money()
    payout = _money()
    remnant_sold = models.PositiveIntegerField(
        default=0, help_text="Of the sold: to fallback campaigns (the remnant market)."
    )
    remnant_revenue = _money()
    returns = models.PositiveIntegerField(default=0)
    refunded = _money()
    payout_reversed = _money()

    class Meta:
        indexes = [
            models.Index(fields=["hour"], name="traffic_hour"),
            models.Index(fields=["campaign", "hour"], name="traffic_campaign_hour"),
            models.Index(fields=["publisher", "hour"], name="traffic_publisher_hour"),
        ]
        permissions = [("view_dashboard", "Can view the operations dashboard")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.publisher_id}/{self.campaign_id or '-'}"


class CallHour(models.Model):
    """One hour of one campaign endpoint's calls with one outcome: count, total time
    and a latency histogram (``le_*``: calls at most that many ms, above the bucket
    below)."""

    hour = models.DateTimeField()
    vertical = models.ForeignKey("exchange.Vertical", on_delete=models.CASCADE, related_name="+")
    publisher = models.ForeignKey("exchange.Publisher", on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey("buyers.Campaign", on_delete=models.CASCADE, related_name="+")
    buyer = models.ForeignKey("buyers.Buyer", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8)
    outcome = models.CharField(max_length=16)
    calls = models.PositiveIntegerField(default=0)
    total_ms = models.BigIntegerField(default=0)
    le_25 = models.PositiveIntegerField(default=0)
    le_50 = models.PositiveIntegerField(default=0)
    le_100 = models.PositiveIntegerField(default=0)
    le_150 = models.PositiveIntegerField(default=0)
    le_200 = models.PositiveIntegerField(default=0)
    le_300 = models.PositiveIntegerField(default=0)
    le_500 = models.PositiveIntegerField(default=0)
    le_750 = models.PositiveIntegerField(default=0)
    le_1000 = models.PositiveIntegerField(default=0)
    le_2000 = models.PositiveIntegerField(default=0)
    le_5000 = models.PositiveIntegerField(default=0)
    le_inf = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["hour"], name="callhour_hour"),
            models.Index(fields=["campaign", "hour"], name="callhour_campaign_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.campaign_id} {self.kind} {self.outcome}"


class ReasonHour(models.Model):
    """How many leads went unsold for one reason in an hour: at the ping (no campaign)
    or refused by one campaign's post endpoint."""

    hour = models.DateTimeField()
    vertical = models.ForeignKey("exchange.Vertical", on_delete=models.CASCADE, related_name="+")
    publisher = models.ForeignKey("exchange.Publisher", on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(
        "buyers.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    buyer = models.ForeignKey(
        "buyers.Buyer", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    stage = models.CharField(max_length=8)
    reason = models.CharField(max_length=100)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["hour"], name="reasonhour_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.stage} {self.reason}: {self.count}"


class RollupState(models.Model):
    """The refresher's mark: every hour before ``refreshed_through`` (less the slack)
    is final unless rebuilt. One row; its lock also keeps refreshes one at a time."""

    refreshed_through = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rollups through {self.refreshed_through}"


class ConversionHour(models.Model):
    """One hour of sales and buyers' dispositions for one publisher, sub_id and campaign:
    sales counted in the hour of their ledger entry, dispositions in the hour they were
    received (``leads.Disposition.created_at``). Conversion rate = converted / sold."""

    hour = models.DateTimeField()
    vertical = models.ForeignKey("exchange.Vertical", on_delete=models.CASCADE, related_name="+")
    publisher = models.ForeignKey("exchange.Publisher", on_delete=models.CASCADE, related_name="+")
    sub_id = models.CharField(max_length=100, blank=True, default="")
    campaign = models.ForeignKey("buyers.Campaign", on_delete=models.CASCADE, related_name="+")
    buyer = models.ForeignKey("buyers.Buyer", on_delete=models.CASCADE, related_name="+")
    sold = models.PositiveIntegerField(default=0)
    contacted = models.PositiveIntegerField(default=0)
    quoted = models.PositiveIntegerField(default=0)
    converted = models.PositiveIntegerField(default=0)
    bad = models.PositiveIntegerField(default=0)
    converted_value = _money()

    class Meta:
        indexes = [models.Index(fields=["hour"], name="conversionhour_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.publisher_id}/{self.sub_id}/{self.campaign_id}"
