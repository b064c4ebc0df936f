"""Dispositions in: by buyer key, or by a campaign's signed postback URL
(``leads.dispositions``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.api.base import PublicApiView, client_ip
from exchange.api.errors import ApiError
from exchange.api.parsers import JsonParser
from exchange.api.ratelimit import hit
from exchange.api.serializers import ErrorBody
from exchange.config_cache import parse_rate
from leads.choices import DispositionEvent, DispositionSource
from leads.dispositions import (
    SIGNATURE_PARAM,
    DispositionRefused,
    Report,
    accept_postback,
    check_postback,
    record_disposition,
)
from leads.ledger import money
from leads.models import Disposition

from . import serializers as s
from .buyer import BuyerApiView

# Small enough for any CRM's clock to be off by; a report from the future is a mistake.
CLOCK_SKEW = timedelta(minutes=5)
MAX_VALUE = Decimal("9999999999.99")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _invalid(name: str, problem: str) -> ApiError:
    return ApiError(422, "invalid", f"'{name}' is invalid: {problem}.", {name: [problem]})


def read_report(values: dict[str, Any]) -> Report:
    """A checked report from a request's fields; ``ApiError`` 422 naming the field."""
    raw_id = values.get("lead_id")
    try:
        lead_id = uuid.UUID(str(raw_id)) if isinstance(raw_id, str) and raw_id else None
    except ValueError:
        lead_id = None
    if lead_id is None:
        problem = "not a lead id" if raw_id not in (None, "") else "required"
        raise _invalid("lead_id", f"{problem}: the id of a lead you bought")
    event = values.get("event")
    if event not in DispositionEvent.values:
        raise _invalid("event", f"must be one of: {', '.join(DispositionEvent.values)}")
    now = timezone.now()
    at = now
    raw_at = values.get("at")
    if raw_at not in (None, ""):
        try:
            parsed = parse_datetime(raw_at) if isinstance(raw_at, str) else None
        except ValueError:  # well formed but no such time: 2026-02-30
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise _invalid("at", "an ISO 8601 time with its offset, e.g. 2026-12-01T15:04:05Z")
        if parsed > now + CLOCK_SKEW:
            raise _invalid("at", "must not be in the future")
        if parsed < EARLIEST:
            raise _invalid("at", "must be in this century")
        at = parsed
    return Report(lead_id, str(event), at, _value(values.get("value")))


def _value(raw: Any) -> Decimal | None:
    if raw is None or raw == "":
        return None
    # A JSON float is refused like any other non-text: money travels as "120.00".
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _invalid("value", 'an amount as text with at most 2 decimals, e.g. "120.00"')
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        value = Decimal("NaN")
    exponent = value.as_tuple().exponent
    if (
        not value.is_finite()
        or not isinstance(exponent, int)
        or exponent < -2
        or not 0 <= value <= MAX_VALUE
    ):
        raise _invalid("value", 'an amount of 0 or more with at most 2 decimals, e.g. "120.00"')
    return value


def _answer(disposition: Disposition, created: bool) -> Response:
    body: dict[str, Any] = {
        "id": disposition.pk,
        "lead_id": str(disposition.lead_id),
        "event": disposition.event,
        "at": disposition.at.isoformat().replace("+00:00", "Z"),
        "status": "recorded" if created else "already_recorded",
    }
    if disposition.value is not None:
        body["value"] = money(disposition.value)
    return Response(body, status=201 if created else 200)


ERRORS = {code: OpenApiResponse(ErrorBody) for code in (400, 401, 404, 413, 415, 422, 429)}


class DispositionsView(BuyerApiView):
    @extend_schema(
        request=s.DispositionRequest,
        responses={201: s.DispositionAnswer, 200: s.DispositionAnswer, **ERRORS},
        tags=["buyers"],
    )
    def post(self, request: Request) -> Response:
        """Report what became of a lead you bought: contacted, quoted, converted or bad.

        201 when recorded; 200 with the stored report when this event was already
        reported for the lead (nothing changes); 404 for a lead not sold to you.
        """
        report = read_report(self.body(request))
        try:
            disposition, created = record_disposition(
                report, buyer_id=self.key.buyer_id or 0, source=DispositionSource.API
            )
        except DispositionRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from exc
        return _answer(disposition, created)


POSTBACK_PARAMETERS = [
    OpenApiParameter("lead_id", OpenApiTypes.UUID, required=True),
    OpenApiParameter("event", OpenApiTypes.STR, enum=DispositionEvent.values, required=True),
    OpenApiParameter("ts", OpenApiTypes.INT, required=True, description="Unix time of signing."),
    OpenApiParameter(
        "sig", OpenApiTypes.STR, required=True, description="Hex HMAC-SHA256, see docs."
    ),
    OpenApiParameter("at", OpenApiTypes.DATETIME),
    OpenApiParameter("value", OpenApiTypes.STR, description='e.g. "120.00"'),
    OpenApiParameter("nonce", OpenApiTypes.STR, description="Anything unique, signed too."),
]
POSTBACK_ERRORS = {code: OpenApiResponse(ErrorBody) for code in (400, 401, 404, 409, 413, 422, 429)}


class PostbackView(PublicApiView):
    """A campaign's signed postback URL: no key; the signature is the credential."""

    # Flat parameters: not the publisher API's forms, whose fields nest under "lead".
    parser_classes = [JsonParser, FormParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Skips PublicApiView's key check on purpose: a CRM calling this has no key.
        APIView.initial(self, request, *args, **kwargs)
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.SWITCHYARD["MAX_BODY_BYTES"]:
            raise ApiError(413, "too_large", "The request body is too large.")

    @extend_schema(
        parameters=POSTBACK_PARAMETERS,
        request=None,
        responses={201: s.DispositionAnswer, 200: s.DispositionAnswer, **POSTBACK_ERRORS},
        tags=["buyers"],
        auth=[],
    )
    def get(self, request: Request, campaign: str) -> Response:
        """A buyer's CRM reports a disposition by calling its campaign's signed URL."""
        return self._handle(campaign, _flat(request.query_params))

    @extend_schema(
        parameters=POSTBACK_PARAMETERS,
        request=s.PostbackBody,
        responses={201: s.DispositionAnswer, 200: s.DispositionAnswer, **POSTBACK_ERRORS},
        tags=["buyers"],
        auth=[],
    )
    def post(self, request: Request, campaign: str) -> Response:
        """The same as GET, the parameters in the query, a form or a JSON object of text."""
        params = _flat(request.query_params)
        if request._request.body:
            body = request.data
            if not isinstance(body, dict):
                raise ApiError(400, "malformed", "The body must be an object.")
            for name, value in _flat(body).items():
                if name in params and params[name] != value:
                    raise _invalid(name, "given differently in the query and the body")
                params[name] = value
        return self._handle(campaign, params)

    def _handle(self, campaign_slug: str, params: dict[str, str]) -> Response:
        _limit_rate(campaign_slug, client_ip(self.request))
        for name in (SIGNATURE_PARAM, "ts"):
            if not params.get(name):
                raise _invalid(name, "required on a signed postback")
        try:
            campaign = check_postback(campaign_slug, params, timezone.now())
            report = read_report(dict(params))
            disposition, created = accept_postback(campaign, params, report)
        except DispositionRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from exc
        return _answer(disposition, created)


def _limit_rate(campaign_slug: str, ip: str) -> None:
    """Count the call per campaign URL and caller IP in the shared cache, before any
    query: a flood (of bad signatures, say) is answered 429 without touching the database."""
    limit = parse_rate(settings.POSTBACK_RATE_LIMIT)
    if limit is None:
        return
    wait = hit(f"postback:{campaign_slug}:{ip}", limit)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            "Too many requests; slow down.",
            headers={"Retry-After": str(wait)},
        )


def _flat(values: Any) -> dict[str, str]:
    """Parameters as text: a repeated query parameter keeps its last value; a JSON
    value that is not text (or a whole number) is refused, since its text is signed."""
    flat: dict[str, str] = {}
    for name in values:
        value = values.getlist(name)[-1] if hasattr(values, "getlist") else values[name]
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _invalid(str(name), "must be text")
        try:
            # Signed as UTF-8: a lone surrogate (JSON's "\ud800") has no bytes to sign.
            str(name).encode() and str(value).encode()
        except UnicodeEncodeError:
            raise _invalid(str(name), "must be UTF-8 text") from None
        flat[str(name)] = str(value)
    return flat
