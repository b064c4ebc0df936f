"""The buyer API: returns and the list of what a buyer bought."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from buyers.models import Buyer
from exchange.api.base import PublicApiView
from exchange.api.codes import error_responses
from exchange.api.errors import ApiError
from leads.choices import DeliveryStatus, LeadStatus, ReturnReason
from leads.filtersets import BoughtLeadFilter
from leads.models import Delivery, Lead
from leads.returns import ReturnRefused, record_return

from . import serializers as s

ERRORS = error_responses(400, 401, 403, 404, 409, 422, 429, 503)
# How each refusal of a return is answered.
REFUSAL_STATUS = {
    "not_sold": 409,
    "not_your_lead": 404,
    "already_returned": 409,
    "return_window_closed": 409,
    "return_cap_reached": 409,
    "test_lead": 409,
}


class BuyerApiView(PublicApiView):
    key_kinds = frozenset({"buyer"})


class ReturnsView(BuyerApiView):
    @extend_schema(
        request=s.ReturnRequest, responses={201: s.ReturnAnswer, **ERRORS}, tags=["buyers"]
    )
    def post(self, request: Request) -> Response:
        """Return a lead you bought, within your return window, with a reason code."""
        body = self.body(request)
        lead_id = body.get("lead_id")
        if not isinstance(lead_id, str) or not lead_id:
            raise ApiError(
                422,
                "invalid",
                "Give the lead_id of the lead you return.",
                {"lead_id": ["required: the id of a lead you bought"]},
            )
        reason = body.get("reason")
        if reason not in ReturnReason.values:
            raise ApiError(
                422,
                "invalid",
                "Unknown return reason.",
                {"reason": [f"must be one of: {', '.join(ReturnReason.values)}"]},
            )
        note = body.get("note") or ""
        # No NUL: PostgreSQL cannot store it in text.
        if not isinstance(note, str) or len(note) > 500 or "\x00" in note:
            raise ApiError(
                422,
                "invalid",
                "The note must be text of 500 characters at most.",
                {"note": ["text of 500 characters at most, without NUL"]},
            )
        lead = _lead(lead_id)
        buyer = Buyer.objects.get(pk=self.key.buyer_id or 0)  # a buyer key names its buyer
        try:
            record_return(lead, buyer=buyer, reason=reason, note=note)
        except ReturnRefused as exc:
            raise ApiError(REFUSAL_STATUS.get(exc.code, 409), exc.code, exc.message) from exc
        return Response(
            {"lead_id": str(lead.id), "status": "returned", "credit": f"{lead.price:.2f}"},
            status=201,
        )


def _lead(value: Any) -> Lead:
    try:
        return Lead.objects.get(pk=uuid.UUID(str(value)))
    except (ValueError, Lead.DoesNotExist):
        raise ApiError(404, "not_found", "No lead with this id.") from None


class Pages(LimitOffsetPagination):
    """``limit`` (1 to 1000, 100 if absent) and ``offset`` (0 or more); any other value
    is refused with a 422 naming the parameter rather than quietly replaced."""

    default_limit = 100
    max_limit = 1000

    def get_limit(self, request: Request) -> int:
        return self._whole(request, self.limit_query_param, 1, self.max_limit, self.default_limit)

    def get_offset(self, request: Request) -> int:
        return self._whole(request, self.offset_query_param, 0, None, 0)

    @staticmethod
    def _whole(request: Request, name: str, least: int, most: int | None, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        value = int(raw) if raw.strip().isdigit() else -1
        if value < least or (most is not None and value > most):
            bounds = f"from {least} to {most}" if most is not None else f"{least} or more"
            raise ApiError(
                422, "invalid", f"'{name}' must be a whole number {bounds}.", {name: [bounds]}
            )
        return value


class BoughtLeadsView(BuyerApiView, ListAPIView):
    """The leads you bought, newest first; filter by sale time and status."""

    serializer_class = s.BoughtLead
    filterset_class = BoughtLeadFilter
    pagination_class = Pages

    def get_queryset(self) -> QuerySet[Lead]:
        if getattr(self, "swagger_fake_view", False):
            # drf-spectacular builds the schema (and the filters' parameters) without a key.
            return Lead.objects.none()
        accepted = Delivery.objects.filter(status=DeliveryStatus.ACCEPTED)
        return (
            Lead.objects.filter(
                sold_campaign__buyer_id=self.key.buyer_id or 0,
                status__in=(LeadStatus.SOLD, LeadStatus.RETURNED),
            )
            .select_related("sold_campaign", "vertical")
            .prefetch_related(Prefetch("deliveries", queryset=accepted))
            .order_by("-sold_at")
        )

    @extend_schema(tags=["buyers"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
