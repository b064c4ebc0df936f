"""The exchange's part of the test console's checks (``buyers.console_checks``): the
auction's own eligibility verdict for the campaign, and the consent it requires.

The verdict comes from ``auction.eligible_campaigns`` run on the sample lead as a test
lead would be (its caps and circuits are the buyers' rows of the console, read without
taking a probe), so the console says what the auction itself decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from buyers.compiled import CampaignInfo
from buyers.console_checks import Check, filter_values

from . import consent
from .auction import LeadContext, eligible_campaigns
from .choices import PayoutModel
from .config_cache import PublisherInfo, get_config

CONSOLE_LEAD_ID = "00000000-0000-4000-8000-000000000000"


def _stand_in_publisher(lead: Mapping[str, Any]) -> PublisherInfo:
    """The console has no publisher; a rule on ``publisher`` reads the sample's slug."""
    return PublisherInfo(
        id=0, slug=str(lead.get("publisher", "")), name="test console", is_active=True,
        payout_model=PayoutModel.REVENUE_SHARE, payout_percent=Decimal(100),
        payout_amount=Decimal(0), floor=Decimal(0), networks=(), rate_limit=None,
        callback_url="",
    )  # fmt: skip


def auction_checks(campaign: CampaignInfo, lead: Mapping[str, Any], now: datetime) -> list[Check]:
    checks = []
    problem = consent.static_problem(campaign, filter_values(lead))
    if consent.required_kinds(campaign) or campaign.require_tcpa_consent:
        checks.append(
            Check("consent", "consent the campaign requires", not problem, problem or "present")
        )
    vertical = next(
        (v for v in get_config().verticals.values() if v.id == campaign.vertical_id), None
    )
    if vertical is None:
        checks.append(
            Check("auction", "the vertical takes leads", False, "the vertical is not active")
        )
        return checks
    trace: list[dict[str, Any]] = []
    ctx = LeadContext(
        CONSOLE_LEAD_ID, replace(vertical, campaigns=(campaign,)), _stand_in_publisher(lead),
        str(lead.get("sub_id", "")), lead, is_test=True, now=now,
    )  # fmt: skip
    eligible = eligible_campaigns(ctx, trace)
    reason = trace[0]["reason"] if trace else ""
    checks.append(
        Check(
            "auction",
            "the auction would offer it this lead (before caps and circuits)",
            bool(eligible),
            reason or "eligible",
        )
    )
    return checks
