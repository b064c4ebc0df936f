"""What is checked again at post, on the full lead, before any buyer gets it (SPEC §7).

At ping the lead has no post-stage field, so filters on them were deferred
(``buyers.filters.DEFERRED``), certificates were only checked for their format and the
buyers' own duplicate windows could not be known. Here, for every campaign that bid:
its filters on the full lead (with the lead-quality signals: ``exchange.quality_signals``), its
consent requirements with the certificates verified (``exchange.consent``: once per
lead, outcome on the trace), and whether its buyer
already holds this person within the campaign's ``dedupe_days``. A campaign that fails
is skipped, named in the lead's trace with the reason (``at post: filter: …``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from exchange import consent
from exchange.config_cache import Config
from exchange.quality_signals import Signals, with_signals

from . import claims

AT_POST = "at post: "
DUPLICATE_FOR_BUYER = "duplicate for this buyer"


@dataclass(slots=True)
class PostChecks:
    """Campaigns to skip (campaign id -> reason) and the trace entries saying why."""

    skip: dict[int, str] = field(default_factory=dict)
    trace: list[dict[str, Any]] = field(default_factory=list)


def check_at_post(
    config: Config,
    *,
    lead_id: UUID | str,
    campaign_ids: Iterable[int],
    values: Mapping[str, Any],
    publisher_slug: str,
    sub_id: str,
    hashes: list[str],
    is_test: bool,
    now: datetime,
    held: dict[int, datetime | None] | None = None,
) -> PostChecks:
    campaigns = [config.campaigns[c] for c in dict.fromkeys(campaign_ids) if c in config.campaigns]
    result = PostChecks()
    verdicts = consent.verify_for(campaigns, values)
    for kind, verdict in verdicts.items():
        label = consent.LABEL[kind]
        result.trace.append(
            {
                "check": label,
                "verified": verdict.ok,
                "stage": "post",
                "pinged": False,
                "reason": f"{label} {'verified' if verdict.ok else 'not verified'}"
                f" ({verdict.detail})",
            }
        )
    if is_test:
        held = {}
    elif held is None:  # else read by the caller a moment ago
        held = claims.buyers_holding({c.buyer_id for c in campaigns}, hashes, lead_id, now)
    signals = Signals(values, lead_id=str(lead_id), is_test=is_test, now=now)
    signals.record()
    filter_values = with_signals({**values, "publisher": publisher_slug, "sub_id": sub_id}, signals)
    for campaign in campaigns:
        reason = ""
        failed = campaign.check_filters(filter_values)
        if failed:
            reason = f"{AT_POST}filter: {failed}"
        elif problem := consent.post_problem(campaign, values, verdicts):
            reason = f"{AT_POST}{problem}"
        elif campaign.buyer_id in held and campaign.dedupe_days:
            sold_at = held[campaign.buyer_id]
            if sold_at is None or sold_at >= now - timedelta(days=campaign.dedupe_days):
                reason = f"{AT_POST}{DUPLICATE_FOR_BUYER} (within {campaign.dedupe_days} days)"
        if reason:
            result.skip[campaign.id] = reason
            result.trace.append(
                {
                    "campaign_id": campaign.id,
                    "campaign": campaign.slug,
                    "buyer": campaign.buyer_name,
                    "pinged": True,
                    "stage": "post",
                    "reason": reason,
                }
            )
    if entry := signals.trace_entry("post"):
        result.trace.insert(len(verdicts), entry)
    return result
