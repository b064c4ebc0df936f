"""Every machine code the API answers with, and what it means: error codes (the
``error.code`` of a 4xx/5xx, SPEC §3) and reason codes (``reasons`` of a rejected
ping or post). The OpenAPI schema, the posting instructions and docs/api.md list them
from here; ``tests/exchange/test_openapi.py`` fails when the code emits one this
catalogue does not explain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from .serializers import ErrorBody


@dataclass(frozen=True)
class ErrorCode:
    status: int
    code: str
    meaning: str
    message: str  # what the answer's ``message`` says, word for word or nearly
    fields: dict[str, list[str]] | None = None


ERROR_CODES: tuple[ErrorCode, ...] = (
    ErrorCode(
        400,
        "malformed",
        "The body is not valid JSON, form data or XML, is empty or not an object, or a "
        "header (Idempotency-Key) is not printable text.",
        "JSON parse error - Expecting value: line 1 column 1 (char 0)",
    ),
    ErrorCode(
        401,
        "unauthenticated",
        "No API key was sent, or the key is unknown, revoked or of the wrong kind for "
        "this endpoint (a publisher key on the buyer API...).",
        "Send your API key as 'Authorization: Bearer <key>'.",
    ),
    ErrorCode(
        403,
        "publisher_paused",
        "Your publisher account is paused.",
        "Your publisher account is paused.",
    ),
    ErrorCode(
        403,
        "ip_not_allowed",
        "The call came from an address outside your account's IP allowlist.",
        "Calls from 198.51.100.9 are not allowed.",
    ),
    ErrorCode(403, "forbidden", "The key may not do this.", "You do not have permission."),
    ErrorCode(
        404,
        "not_found",
        "No such lead, deletion request or endpoint for your account.",
        "No lead with this id for your account.",
    ),
    ErrorCode(
        404,
        "ping_not_found",
        "The post's ping_id names no ping of your account.",
        "No ping with this id for your account.",
    ),
    ErrorCode(
        404,
        "not_your_lead",
        "A return names a lead your buyer account did not buy.",
        "This lead was not sold to you.",
    ),
    ErrorCode(
        405,
        "method_not_allowed",
        "The endpoint does not take this HTTP method.",
        'Method "PUT" not allowed.',
    ),
    ErrorCode(
        406,
        "not_acceptable",
        "The Accept header asks for a format the API does not answer in.",
        "Could not satisfy the request Accept header.",
    ),
    ErrorCode(
        409,
        "ping_rejected",
        "The ping was answered rejected: there is nothing to post.",
        "This ping was not accepted; nothing to post.",
    ),
    ErrorCode(
        409,
        "post_in_progress",
        "Another post of this ping (or this Idempotency-Key) is running; retry shortly "
        "and you get its answer.",
        "This lead is being posted; retry shortly.",
    ),
    ErrorCode(
        409,
        "not_sold",
        "A return names a lead that was not sold.",
        "This lead was not sold, so it cannot be returned.",
    ),
    ErrorCode(
        409,
        "already_returned",
        "The lead was returned already.",
        "This lead has already been returned.",
    ),
    ErrorCode(
        409,
        "return_window_closed",
        "The buyer's return window for this lead has passed.",
        "The return window of 7 days closed on 2026-01-22.",
    ),
    ErrorCode(
        409,
        "return_cap_reached",
        "The buyer's returns for the period reached its cap.",
        "Returns this month may not exceed 10% of this month's purchases.",
    ),
    ErrorCode(
        409,
        "test_lead",
        "Test leads cannot be returned: they were never charged.",
        "Test leads are not billed, so they cannot be returned.",
    ),
    ErrorCode(
        410,
        "ping_expired",
        "The ping's offer expired (expires_at) before the post came: ping again.",
        "The offer for this ping has expired; ping again.",
    ),
    ErrorCode(
        413,
        "too_large",
        "The body is larger than MAX_BODY_BYTES (64 KiB by default).",
        "The request body is too large.",
    ),
    ErrorCode(
        415,
        "unsupported_media_type",
        "The Content-Type is not JSON, form-encoded or XML.",
        'Unsupported media type "text/csv" in request.',
    ),
    ErrorCode(
        422,
        "invalid",
        "A field of the request itself (not of the lead) is missing or wrong: ping_id, "
        "sub_id, mode, reason, a query parameter...; 'fields' names each one.",
        "'mode' must be sync or async.",
        {"mode": ["must be sync or async"]},
    ),
    ErrorCode(
        422,
        "unknown_vertical",
        "The vertical slug names no active vertical.",
        "There is no vertical 'auto-insurence'.",
        {"vertical": ["unknown vertical"]},
    ),
    ErrorCode(
        422,
        "invalid_lead",
        "Lead fields failed the vertical's validation; 'fields' is keyed 'lead.<field>'.",
        "Some lead fields are invalid.",
        {"lead.phone": ["must be a valid phone number"], "lead.zip": ["this field is required"]},
    ),
    ErrorCode(
        422,
        "pii_in_ping",
        "A ping carried personal data (names, email, phone, address, date of birth, IP "
        "address): send it with the post.",
        "Some lead fields are invalid.",
        {"lead.email": ["personal data is not allowed in a ping; send it with the post"]},
    ),
    ErrorCode(
        422,
        "lead_differs_from_ping",
        "A post changed a field that the ping already sent.",
        "Fields sent in the ping must not change in the post.",
        {"lead.zip": ["differs from the value sent in the ping"]},
    ),
    ErrorCode(
        429,
        "rate_limited",
        "Over your key's rate limit (a signed postback: over POSTBACK_RATE_LIMIT for its "
        "campaign's URL from your IP): wait the seconds the Retry-After header gives.",
        "Too many requests; slow down.",
    ),
    ErrorCode(
        500,
        "internal_error",
        "A bug on the exchange's side; it is logged. Never an answer to bad input.",
        "Something went wrong on our side; it has been logged.",
    ),
    ErrorCode(
        503,
        "unavailable",
        "A dependency (database, cache, broker) is down: retry after Retry-After seconds.",
        "A service the exchange depends on is unavailable; retry shortly.",
    ),
    ErrorCode(
        401,
        "bad_signature",
        "A buyer's postback: the signature does not match the campaign's postback secret, "
        "or `ts` is not a Unix time (docs/dispositions.md).",
        "The signature does not match this campaign's postback secret.",
    ),
    ErrorCode(
        401,
        "signature_expired",
        "A buyer's postback was signed longer ago (or further ahead) than "
        "POSTBACK_MAX_AGE_SECONDS: sign it again.",
        "This postback was signed more than 300 s from now; sign it again.",
    ),
    ErrorCode(
        409,
        "replayed",
        "A buyer's signed postback that was already received; it changes nothing.",
        "This signed postback was already received.",
    ),
    ErrorCode(
        503,
        "overloaded",
        "The exchange is at capacity (too many requests in flight, or yours waited too long "
        "in the queue): nothing was done; retry after Retry-After seconds.",
        "The exchange is at capacity; retry after Retry-After seconds.",
    ),
)
ERRORS_BY_CODE = {e.code: e for e in ERROR_CODES}

# The ``reasons`` of a ping answered ``rejected`` or a post answered ``rejected``.
REASON_CODES: dict[str, str] = {
    "no_eligible_buyers": "No campaign may take the lead: filters (lead-quality checks "
    "included), schedule, caps, throttles, consent, duplicates at a buyer, or (after a ping) "
    "the checks at post left none.",
    "no_bids": "Campaigns were asked, but none bid (each passed, timed out or failed).",
    "below_floor": "Bids came in, but your payout would be below your account's floor.",
    "duplicate": "The same person (phone or email) is live or was sold in this vertical "
    "within the duplicate window (30 days by default), or every bidder already holds them.",
    "suppressed": "The phone or email is on the suppression list (do-not-call, opt-out, "
    "deletion request): no buyer gets the lead.",
    "all_buyers_rejected": "Every bidder refused the post (down the whole waterfall).",
    "delivery_failed": "The post failed at every bidder after its retries.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for these statuses: the error shape, the codes each status
    carries with their meaning, and one real example per code."""
    responses = {}
    for status in statuses:
        codes = [e for e in ERROR_CODES if e.status == status]
        lines = "\n".join(f"- `{e.code}`: {e.meaning}" for e in codes)
        responses[status] = OpenApiResponse(
            ErrorBody,
            description=f"Error codes:\n\n{lines}" if codes else "An error.",
            examples=[
                OpenApiExample(
                    e.code, value=error_example(e), status_codes=[str(status)], response_only=True
                )
                for e in codes
            ],
        )
    return responses


def error_example(error: ErrorCode) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    return {"error": body}


def codes_markdown() -> str:
    """Both tables as Markdown, for the schema's description."""
    errors = "\n".join(f"| {e.status} | `{e.code}` | {e.meaning} |" for e in ERROR_CODES)
    reasons = "\n".join(f"| `{c}` | {m} |" for c, m in REASON_CODES.items())
    return (
        '### Error codes\n\nEvery error is `{"error": {"code", "message", "fields"?}}`.\n\n'
        f"| status | code | meaning |\n|---|---|---|\n{errors}\n\n"
        "### Reason codes\n\nA ping or post answered `rejected` says why in `reasons`.\n\n"
        f"| reason | meaning |\n|---|---|\n{reasons}\n"
    )
