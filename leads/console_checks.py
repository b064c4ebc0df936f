"""The leads' part of the test console's checks (``buyers.console_checks``): is the
sample person suppressed, or held by another lead (the exchange-wide duplicate window,
and this campaign's buyer within the campaign's ``dedupe_days``)?

The person is looked up by the keyed hashes of the sample's phone and email, with the
same read-only claim checks a post uses for a test lead; nothing is claimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from buyers.compiled import CampaignInfo
from buyers.console_checks import Check
from plumbing.pii import email_hash, normalize_phone, phone_hash

from . import claims
from .post_checks import DUPLICATE_FOR_BUYER
from .suppression import is_suppressed

CONSOLE_LEAD_ID = "00000000-0000-4000-8000-000000000000"


def person_checks(campaign: CampaignInfo, lead: Mapping[str, Any], now: datetime) -> list[Check]:
    e164 = normalize_phone(str(lead.get("phone") or ""))
    phone = phone_hash(e164) if e164 else ""
    email = email_hash(str(lead.get("email") or ""))
    hashes = claims.person_hashes(phone, email)
    if not hashes:
        nobody = "the sample has no phone or email to look up"
        return [Check("suppression", "not suppressed", True, nobody),
                Check("duplicates", "not a duplicate", True, nobody)]  # fmt: skip
    suppressed = is_suppressed(phone, email)
    checks = [
        Check(
            "suppression",
            "not on the suppression list",
            not suppressed,
            "the phone or email is suppressed" if suppressed else "neither phone nor email is",
        )
    ]
    days = settings.SWITCHYARD["DUPLICATE_WINDOW_DAYS"]
    held = days > 0 and claims.held_by_another(
        claims.vertical_scope(campaign.vertical_id), hashes, CONSOLE_LEAD_ID, days, now
    )
    checks.append(
        Check(
            "duplicates",
            f"no other lead of this person in the vertical within {days} days",
            not held,
            "another lead holds this person" if held else "none",
        )
    )
    if campaign.dedupe_days:
        holding = claims.buyers_holding({campaign.buyer_id}, hashes, CONSOLE_LEAD_ID, now)
        sold_at = holding.get(campaign.buyer_id, now - timedelta(days=campaign.dedupe_days + 1))
        recent = campaign.buyer_id in holding and (
            sold_at is None or sold_at >= now - timedelta(days=campaign.dedupe_days)
        )
        checks.append(
            Check(
                "duplicates",
                f"the buyer does not hold this person (within {campaign.dedupe_days} days)",
                not recent,
                f"{DUPLICATE_FOR_BUYER}" if recent else "it does not",
            )
        )
    return checks
