"""The test console's checks before sending: would the sample lead reach this campaign?

Each check reuses what the exchange runs on a real lead: the campaign's compiled filters
(each top-level rule compiled alone, so the answer is rule by rule), its compiled
schedule, the caps' counters (``caps.reached``) and the circuit rows. Checks that live
in higher layers (the auction's eligibility and consent, duplicates and suppression)
are registered by those layers at start-up (``register_pre_check``). Nothing here
writes: no counter, no probe claim, no person claim.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plumbing.admin_views import local_time

from .caps import CapSpec, reached, usage
from .choices import CircuitStatus
from .compiled import CampaignInfo
from .filters import compile_filters
from .lead_values import show_rule_value
from .models import Campaign, Cap, CircuitState
from .schedule import describe_closed


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the console's verdict."""

    topic: str  # filters, schedule, caps, circuit, consent, duplicates, suppression...
    rule: str  # what was checked
    passed: bool
    detail: str = ""


PreCheck = Callable[[CampaignInfo, Mapping[str, Any], datetime], list[Check]]
_registered: list[PreCheck] = []


def register_pre_check(check: PreCheck) -> None:
    """A higher layer adds its own checks (called with the compiled campaign, the sample
    lead and now); registering twice is harmless."""
    if check not in _registered:
        _registered.append(check)


def pre_checks(
    campaign: Campaign, compiled: CampaignInfo, lead: Mapping[str, Any], now: datetime
) -> list[Check]:
    """Every check, in the order the exchange meets them."""
    checks = [
        *_filters(campaign.filters, compiled, lead),
        _schedule(compiled, now),
        *_caps(campaign, now),
        *_circuits(campaign, now),
    ]
    for check in _registered:
        checks.extend(check(compiled, lead, now))
    return checks


def filter_values(lead: Mapping[str, Any]) -> dict[str, Any]:
    """The values filters read: the lead, with the pseudo-fields the auction adds (a
    sample may name a ``publisher`` slug to try a publisher rule)."""
    return {**lead, "publisher": lead.get("publisher", ""), "sub_id": lead.get("sub_id", "")}


def _filters(rules: Any, compiled: CampaignInfo, lead: Mapping[str, Any]) -> list[Check]:
    if compiled.not_live_reason.startswith("misconfigured"):
        return [Check("filters", "the campaign's rules", False, compiled.not_live_reason)]
    rules = rules if isinstance(rules, list) else [rules] if rules else []
    if not rules:
        return [Check("filters", "no filters", True, "every lead passes")]
    values = filter_values(lead)
    checks = []
    for rule in rules:
        failed = compile_filters([rule])(values)
        checks.append(Check("filters", describe_rule(rule), failed is None, failed or "passes"))
    return checks


def describe_rule(rule: Any) -> str:
    """A rule as a person reads it: ``state in [TX, OK]``, ``any of 2 rules``."""
    if isinstance(rule, list):
        return f"all of {len(rule)} rules"
    if not isinstance(rule, Mapping):
        return str(rule)
    for group in ("any", "all"):
        if group in rule:
            inner = "; ".join(describe_rule(r) for r in rule[group])
            return f"{group} of: {inner}"
    field, op = rule.get("field", "?"), rule.get("op", "?")
    if op in ("exists", "not_exists"):
        return f"{field} {op}"
    return f"{field} {op} {show_rule_value(rule.get('value'))}"


def _schedule(compiled: CampaignInfo, now: datetime) -> Check:
    is_open = compiled.is_open(now)
    detail = describe_closed(compiled.schedule, compiled.buyer_tz, now)
    return Check("schedule", "open now", is_open, detail)


def _caps(campaign: Campaign, now: datetime) -> list[Check]:
    caps = list(Cap.objects.filter(campaign=campaign)) + list(
        Cap.objects.filter(buyer_id=campaign.buyer_id)
    )
    if not caps:
        return [Check("caps", "no caps", True, "")]
    tz = campaign.buyer.timezone
    full = reached([CapSpec.from_cap(cap, tz) for cap in caps], now)
    checks = []
    for cap in caps:
        leads, spend = usage(cap, now, tz)
        owner = "campaign" if cap.campaign_id else "buyer"
        used = []
        if cap.max_leads is not None:
            used.append(f"{leads} of {cap.max_leads} leads")
        if cap.max_spend is not None:
            used.append(f"${spend:,.2f} of ${cap.max_spend:,.2f}")
        checks.append(
            Check(
                "caps",
                f"{owner} cap per {cap.period}",
                cap.pk not in full,
                f"{' and '.join(used)} used this {cap.period}",
            )
        )
    return checks


def _circuits(campaign: Campaign, now: datetime) -> list[Check]:
    checks = []
    states = CircuitState.objects.filter(endpoint__campaign=campaign).select_related("endpoint")
    for state in states:
        closed = state.status == CircuitStatus.CLOSED
        detail = (
            "calls go through"
            if closed
            else "no calls until its next probe"
            + (f" (due {local_time(state.retry_at)})" if state.retry_at else "")
        )
        rule = f"{state.endpoint.kind} endpoint's circuit closed"
        checks.append(Check("circuit", rule, closed, detail))
    return checks
