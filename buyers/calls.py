"""Building a call to a buyer's endpoint and reading its answer.

Shared by the auction (pings), deliveries (posts) and the admin test console, so
what the console shows is exactly what production sends.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from plumbing.masking import scrub_text

from .auth import CredentialError, auth_headers, masked_headers, reauthorizer
from .choices import BodyFormat, Outcome
from .formats import encode_body, form_pairs
from .mail import send_email, subject_for
from .response_rules import Answer
from .transport import OutboundRequest, OutboundResponse, send

if TYPE_CHECKING:
    from .compiled import CampaignInfo, EndpointInfo

SIMULATED_BID = Decimal("10.00")


@dataclass(slots=True)
class PreparedCall:
    endpoint: EndpointInfo
    request: OutboundRequest | None
    error: str = ""  # set when the call cannot be built (e.g. a missing secret)
    # A body this lead cannot give (the mapping or format refuses it) fails the same way
    # on every try; a credential that could not be had may come back.
    retryable: bool = True


def prepare_call(
    endpoint: EndpointInfo,
    values: Mapping[str, Any],
    *,
    test: bool = False,
    idempotency_key: str = "",
    timeout_ms: int | None = None,
) -> PreparedCall:
    """Map ``values`` with the endpoint's rules, encode, authenticate.

    Never raises for a call that cannot be built (a body the format cannot carry, a
    missing secret): the PreparedCall has no request and says why in ``error``.
    """
    url = endpoint.test_url if test and endpoint.test_url else endpoint.url
    method = endpoint.method
    try:
        payload = endpoint.map_lead(values)
        if method == "GET":
            query = urllib.parse.urlencode(form_pairs(payload))
            url = f"{url}{'&' if '?' in url else '?'}{query}"
            body, content_type = b"", ""
        else:
            body, content_type = encode_body(payload, endpoint.format or BodyFormat.JSON)
    except (ValueError, TypeError) as exc:  # TypeError: what orjson cannot encode
        # A mapping that slipped past the checks on save must cost this buyer its
        # call, not fail the whole auction or delivery.
        return PreparedCall(endpoint, None, f"the body cannot be built: {exc}", retryable=False)
    headers = {"Content-Type": content_type} if content_type else {}
    headers.update(endpoint.headers)
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    if endpoint.format == BodyFormat.EMAIL:
        headers["Subject"] = subject_for(headers, values)
        attachment = encode_body(payload, BodyFormat.JSON)[0]
        timeout = (timeout_ms or endpoint.timeout_ms) / 1000
        email = OutboundRequest("EMAIL", url, body, headers, timeout, attachment=attachment)
        return PreparedCall(endpoint, email)
    try:
        headers.update(auth_headers(endpoint.credential, body))
    except CredentialError as exc:
        return PreparedCall(endpoint, None, str(exc))
    timeout = (timeout_ms or endpoint.timeout_ms) / 1000
    request = OutboundRequest(method, url, body, headers, timeout)
    # The transport renews a refused OAuth2 token and resends by itself, within the
    # call's own timeout: for pings (a fan-out cannot stop to retry one buyer) and posts.
    request.reauthorize = reauthorizer(endpoint.credential, headers)
    return PreparedCall(endpoint, request)


def deliver(request: OutboundRequest) -> OutboundResponse:
    """Send one prepared post: over HTTP, or as an e-mail for a ``mailto:`` endpoint."""
    if request.method == "EMAIL":
        return send_email(request)
    return send(request)


def read_response(endpoint: EndpointInfo, response: OutboundResponse) -> Answer:
    """The outcome class and what the buyer said (price, reference, reason)."""
    if response.error == "timeout":
        return Answer.timeout()
    if response.error == "refused":
        # The same address is refused on every try: retrying cannot help.
        return Answer(Outcome.TRANSPORT_ERROR, reason=response.detail[:200], retryable=False)
    if response.error == "too_large":
        return Answer(Outcome.BAD_RESPONSE, reason=response.detail[:200], status=response.status)
    if response.error:
        return Answer.transport_error(response.detail)
    assert response.status is not None
    return endpoint.read_answer(response.status, response.content_type, response.body)


def log_row(
    prepared: PreparedCall,
    response: OutboundResponse | None,
    answer: Answer,
    *,
    pii: list[str],
    **fields: Any,
) -> dict[str, Any]:
    """The fields of a TransactionLog row for this call, personal data masked."""
    request = prepared.request
    body = request.body.decode("utf-8", "replace") if request else ""
    error = answer.reason or (response.detail if response else prepared.error)
    return {
        "method": request.method if request else prepared.endpoint.method,
        # A GET endpoint carries the mapped lead in its query string.
        "url": scrub_text(request.url if request else prepared.endpoint.url, pii)[:500],
        "request_headers": masked_headers(request.headers, prepared.endpoint.credential)
        if request
        else {},
        "request_body": scrub_text(body, pii)[:20000],
        "status_code": response.status if response else None,
        "response_body": scrub_text(response.body.decode("utf-8", "replace"), pii)[:20000]
        if response
        else "",
        "outcome": answer.outcome,
        "error": scrub_text(error, pii)[:300],
        "duration_ms": round(response.elapsed_ms) if response else 0,
        **fields,
    }


def simulated_answer(campaign: CampaignInfo) -> Answer:
    """A test-key lead sent to a campaign without a test URL: a plausible acceptance
    (the fixed price, else 10.00 or the campaign's minimum bid if higher)."""
    price = campaign.fixed_price or max(campaign.min_bid, SIMULATED_BID)
    return Answer(Outcome.SIMULATED, price=price, reference="simulated")
