"""Consent requirements of campaigns (SPEC §7): TCPA consent, TrustedForm certificates,
Jornaya LeadiDs and FCC one-to-one consent (``consent_sellers``).

Two moments. At ping (the hot path) only what costs nothing is checked: the field is
there, well formed, and the campaign's buyer is among the consented sellers. At post,
before any buyer gets the lead, the certificates pass the verifier named by the
``CONSENT_VERIFIER`` setting, once per lead, and the outcome goes on the lead's trace.

The default verifier checks the format only. ``HttpVerifier`` asks a verification
service (``CONSENT_VERIFIER_URL``, e.g. a gateway to the vendors' APIs) through the
outbound transport, with a timeout, and fails closed: a certificate that could not be
verified does not pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from buyers.filters import DEFERRED
from buyers.transport import OutboundRequest, send
from plumbing.fields import CONSENT_SELLERS

TRUSTEDFORM = "trustedform"
JORNAYA = "jornaya"
FIELD_OF = {TRUSTEDFORM: "trustedform_cert_url", JORNAYA: "jornaya_leadid"}
LABEL = {TRUSTEDFORM: "TrustedForm certificate", JORNAYA: "Jornaya LeadiD"}

_FORMATS = {
    TRUSTEDFORM: re.compile(r"https://cert\.trustedform\.com/[0-9a-f]{40}", re.IGNORECASE),
    JORNAYA: re.compile(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
    ),
}


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    detail: str = ""


class Verifier(Protocol):
    def verify(self, kind: str, value: str) -> Verdict: ...


def well_formed(kind: str, value: Any) -> bool:
    return isinstance(value, str) and _FORMATS[kind].fullmatch(value.strip()) is not None


class FormatVerifier:
    """The default: a certificate passes when it has the vendor's format."""

    def verify(self, kind: str, value: str) -> Verdict:
        if well_formed(kind, value):
            return Verdict(True, "format ok")
        return Verdict(False, "malformed")


class HttpVerifier(FormatVerifier):
    """Format first, then ``POST CONSENT_VERIFIER_URL`` with ``{"kind", "value"}``; the
    service answers ``{"valid": true}`` or ``{"valid": false, "reason": "..."}``."""

    def verify(self, kind: str, value: str) -> Verdict:
        verdict = super().verify(kind, value)
        if not verdict.ok:
            return verdict
        url = settings.SWITCHYARD["CONSENT_VERIFIER_URL"]
        if not url:
            return Verdict(False, "no CONSENT_VERIFIER_URL is set")
        body = json.dumps({"kind": kind, "value": value.strip()}).encode()
        timeout_s = settings.SWITCHYARD["CONSENT_VERIFIER_TIMEOUT_MS"] / 1000
        response = send(
            OutboundRequest("POST", url, body, {"Content-Type": "application/json"}, timeout_s)
        )
        if response.error:
            return Verdict(False, f"verifier unavailable ({response.error})")
        if response.status != 200:
            return Verdict(False, f"verifier answered HTTP {response.status}")
        try:
            answer = json.loads(response.body)
        except ValueError:
            return Verdict(False, "verifier answer unreadable")
        if not isinstance(answer, dict):
            return Verdict(False, "verifier answer unreadable")
        if answer.get("valid") is True:
            return Verdict(True, "verified")
        return Verdict(False, str(answer.get("reason") or "not valid")[:100])


@cache
def _verifier(path: str) -> Verifier:
    return import_string(path)()


def verifier() -> Verifier:
    """The verifier the ``CONSENT_VERIFIER`` setting names (a dotted class path)."""
    return _verifier(settings.SWITCHYARD["CONSENT_VERIFIER"])


def required_kinds(campaign: Any) -> list[str]:
    kinds = []
    if campaign.require_trustedform:
        kinds.append(TRUSTEDFORM)
    if campaign.require_jornaya:
        kinds.append(JORNAYA)
    return kinds


def _folded_sellers(values: Mapping[str, Any]) -> frozenset[str] | None:
    sellers = values.get(CONSENT_SELLERS)
    if not sellers or not isinstance(sellers, list | tuple):
        return None
    return frozenset(str(s).strip().casefold() for s in sellers)


def consented_to(campaign: Any, values: Mapping[str, Any]) -> bool:
    """Whether the lead's one-to-one consent names this campaign's buyer (by slug or
    name); a lead without ``consent_sellers`` has no such restriction."""
    sellers = _folded_sellers(values)
    if sellers is None:
        return True
    return campaign.buyer_slug.casefold() in sellers or campaign.buyer_name.casefold() in sellers


def static_problem(campaign: Any, values: Mapping[str, Any]) -> str:
    """Why the lead cannot go to this campaign, from its own fields alone ("" if none):
    the check of the ping, costing no I/O."""
    if campaign.require_tcpa_consent and values.get("tcpa_consent") is not True:
        return "requires tcpa_consent"
    for kind in required_kinds(campaign):
        value = values.get(FIELD_OF[kind])
        if value is None or value == "":
            return f"requires a {LABEL[kind]}"
        if value is not DEFERRED and not well_formed(kind, value):
            return f"{LABEL[kind]} malformed"
    if not consented_to(campaign, values):
        return "not among the sellers the consumer consented to (consent_sellers)"
    return ""


def verify_for(campaigns: Iterable[Any], values: Mapping[str, Any]) -> dict[str, Verdict]:
    """Each certificate some of ``campaigns`` require, verified once: kind -> verdict."""
    kinds = {kind for c in campaigns for kind in required_kinds(c)}
    check = verifier()
    verdicts = {}
    for kind in sorted(kinds):
        value = values.get(FIELD_OF[kind])
        if not isinstance(value, str) or not value:
            verdicts[kind] = Verdict(False, "missing")
        else:
            verdicts[kind] = check.verify(kind, value)
    return verdicts


def post_problem(campaign: Any, values: Mapping[str, Any], verdicts: Mapping[str, Verdict]) -> str:
    """Why the full lead cannot go to this campaign at post ("" if it can)."""
    problem = static_problem(campaign, values)
    if problem:
        return problem
    for kind in required_kinds(campaign):
        verdict = verdicts.get(kind)
        if verdict is None or not verdict.ok:
            detail = verdict.detail if verdict else "not verified"
            return f"{LABEL[kind]} not verified: {detail}"
    return ""
