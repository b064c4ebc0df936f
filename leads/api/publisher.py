"""The publisher API (SPEC §3): ping, post, direct post and a lead's status.

Request checks shared by every API (key, body, rate limit, errors) live in
``exchange.api``; these views read the lead fields against the vertical's schema and
hand the lead to ``leads.pings`` and ``leads.services``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from exchange.api.base import AnswerFirst, PublicApiView
from exchange.api.codes import error_responses
from exchange.api.errors import ApiError
from exchange.config_cache import PublisherInfo, VerticalInfo
from exchange.validation import validate_lead
from leads.choices import LeadStatus
from leads.ledger import money
from leads.models import Lead
from leads.pings import ping_answer, record_ping
from leads.services import LeadError, direct_post, post_lead
from plumbing.fields import Stage

from . import serializers as s

ERRORS = error_responses(400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 503)
# How the publisher sees each campaign in a trace: no buyer or campaign names.
PUBLIC_STATUS: dict[str, str] = {
    LeadStatus.PINGED: "accepted",
    LeadStatus.NO_SALE: "rejected",
    LeadStatus.POSTING: "pending",
    LeadStatus.PENDING: "pending",
    LeadStatus.FAILED: "rejected",
}


def _string(body: dict[str, Any], name: str, *, required: bool, max_length: int = 100) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(
                422, "invalid", f"'{name}' is required.", {name: ["this field is required"]}
            )
        return ""
    # No NUL: PostgreSQL cannot store it in text.
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise ApiError(
            422,
            "invalid",
            f"'{name}' must be text.",
            {name: [f"must be text up to {max_length} characters, without NUL"]},
        )
    return value


def _mode(body: dict[str, Any]) -> str:
    mode = body.get("mode") or "sync"
    if mode not in ("sync", "async"):
        raise ApiError(
            422, "invalid", "'mode' must be sync or async.", {"mode": ["must be sync or async"]}
        )
    return mode


def _raise(exc: LeadError) -> None:
    raise ApiError(exc.status, exc.code, exc.message, exc.fields) from exc


class VerticalApiView(PublicApiView):
    def vertical(self, body: dict[str, Any]) -> VerticalInfo:
        slug = _string(body, "vertical", required=True)
        vertical = self.config.verticals.get(slug)
        if vertical is None or not vertical.is_active:
            raise ApiError(
                422,
                "unknown_vertical",
                f"There is no vertical '{slug}'.",
                {"vertical": ["unknown vertical"]},
            )
        return vertical

    def lead_fields(
        self, body: dict[str, Any], vertical: VerticalInfo, stage: str
    ) -> dict[str, Any]:
        clean, errors = validate_lead(body.get("lead"), vertical.schema, stage)
        if errors:
            code = (
                "pii_in_ping"
                if stage == Stage.PING
                and any("personal data" in m for msgs in errors.values() for m in msgs)
                else "invalid_lead"
            )
            raise ApiError(422, code, "Some lead fields are invalid.", errors)
        return clean


class PingView(VerticalApiView):
    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.received = time.perf_counter()  # Server-Timing's "total" counts from here
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(request=s.PingRequest, responses={200: s.PingAnswer, **ERRORS}, tags=["leads"])
    def post(self, request: Request) -> Response:
        """Ask buyers to bid on a lead (no personal data); answers with your payout offer."""
        started = time.perf_counter()
        body = self.body(request)
        vertical = self.vertical(body)
        sub_id = _string(body, "sub_id", required=False)
        values = self.lead_fields(body, vertical, Stage.PING)
        parsed = time.perf_counter()
        assert self.publisher is not None
        outcome = record_ping(
            vertical=vertical, publisher=self.publisher, key=self.key, sub_id=sub_id, values=values
        )
        response = AnswerFirst(ping_answer(outcome), after=outcome.record_calls)
        phases = {
            "parse": (parsed - started) * 1000,
            **outcome.timings,
            "total": (time.perf_counter() - self.received) * 1000,
        }
        response["Server-Timing"] = ", ".join(f"{k};dur={v:.2f}" for k, v in phases.items())
        return response


class PostView(VerticalApiView):
    @extend_schema(request=s.PostRequest, responses={200: s.PostAnswer, **ERRORS}, tags=["leads"])
    def post(self, request: Request) -> Response:
        """Post the full lead for an accepted ping; it is sold to the best live bid."""
        body = self.body(request)
        ping_id = _string(body, "ping_id", required=True, max_length=64)
        lead = _own_lead(
            ping_id, self.publisher, "ping_not_found", "No ping with this id for your account."
        )
        vertical = next(v for v in self.config.verticals.values() if v.id == lead.vertical_id)
        values = self.lead_fields(body, vertical, Stage.POST)
        assert self.publisher is not None and self.key is not None  # authenticated
        try:
            status, answer = post_lead(
                config=self.config,
                publisher=self.publisher,
                key=self.key,
                lead=lead,
                values=values,
                mode=_mode(body),
            )
        except LeadError as exc:
            _raise(exc)
        return Response(answer, status=status)


class LeadsView(VerticalApiView):
    @extend_schema(
        request=s.DirectPostRequest, responses={200: s.PostAnswer, **ERRORS}, tags=["leads"]
    )
    def post(self, request: Request) -> Response:
        """Direct post: a full lead without a ping; the exchange runs the auction itself.
        Send an ``Idempotency-Key`` header to make retries safe."""
        body = self.body(request)
        vertical = self.vertical(body)
        sub_id = _string(body, "sub_id", required=False)
        mode = _mode(body)
        values = self.lead_fields(body, vertical, Stage.POST)
        idempotency_key = request.META.get("HTTP_IDEMPOTENCY_KEY", "").strip()[:200] or None
        if idempotency_key and not idempotency_key.isprintable():
            raise ApiError(
                400,
                "malformed",
                "The Idempotency-Key header must be printable text.",
                {"Idempotency-Key": ["printable text up to 200 characters"]},
            )
        try:
            status, answer = direct_post(
                config=self.config,
                vertical=vertical,
                publisher=self.publisher,  # type: ignore[arg-type]
                key=self.key,
                sub_id=sub_id,
                values=values,
                mode=mode,
                idempotency_key=idempotency_key,
            )
        except LeadError as exc:
            _raise(exc)
        return Response(answer, status=status)


def _own_lead(lead_id: str, publisher: PublisherInfo | None, code: str, message: str) -> Lead:
    try:
        assert publisher is not None  # a publisher's key
        return Lead.objects.get(id=uuid.UUID(lead_id), publisher_id=publisher.id)
    except (ValueError, Lead.DoesNotExist):
        raise ApiError(404, code, message) from None


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class LeadDetailView(PublicApiView):
    @extend_schema(responses={200: s.LeadDetail, **ERRORS}, tags=["leads"])
    def get(self, request: Request, lead_id: str) -> Response:
        """A lead's status, your payout, its timestamps and timeline."""
        lead = _own_lead(
            lead_id, self.publisher, "not_found", "No lead with this id for your account."
        )
        vertical = next(v for v in self.config.verticals.values() if v.id == lead.vertical_id)
        return Response(
            {
                "lead_id": str(lead.id),
                "vertical": vertical.slug,
                "sub_id": lead.sub_id,
                "status": PUBLIC_STATUS.get(lead.status, lead.status),
                "test": lead.is_test,
                "price": money(lead.payout if lead.payout is not None else lead.offer_price),
                "reasons": lead.reasons,
                "created_at": _iso(lead.created_at),
                "posted_at": _iso(lead.posted_at),
                "sold_at": _iso(lead.sold_at),
                "timeline": [
                    {
                        "status": PUBLIC_STATUS.get(e.to_status, e.to_status),
                        "at": _iso(e.at),
                        "note": e.note,
                    }
                    for e in lead.events.all()
                ],
                "trace": [
                    # A consent certificate's verification, or a campaign (unnamed).
                    {"check": t["check"], "verified": t.get("verified"), "reason": t["reason"]}
                    if "check" in t
                    else {
                        "buyer": f"buyer {n}",
                        "pinged": t.get("pinged"),
                        "reason": t.get("reason", ""),
                    }
                    for n, t in enumerate(
                        # Buyers' dispositions are theirs to share (forward_dispositions).
                        (t for t in lead.trace if "disposition" not in t),
                        start=1,
                    )
                ],
            }
        )
