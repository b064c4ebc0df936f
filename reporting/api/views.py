"""Self-serve statements: a publisher or buyer reads its own statement with its key."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from buyers.models import Buyer
from exchange.api.base import PublicApiView
from exchange.api.codes import error_responses
from exchange.api.errors import ApiError
from exchange.models import Publisher
from leads.periods import exchange_zone
from reporting.finance_views import stream_csv
from reporting.statements import PeriodInvalid, csv_rows, parse_period, party_statement


class CsvRenderer(BaseRenderer):
    """Lets ``?format=csv`` through content negotiation; the view streams the body."""

    media_type = "text/csv"
    format = "csv"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> Any:
        return data


class StatementAnswer(serializers.Serializer):
    party = serializers.ChoiceField(choices=["buyer", "publisher"])
    name = serializers.CharField()
    time_zone = serializers.CharField(help_text="The zone the period's days are read in.")
    period_from = serializers.DateField()
    period_to = serializers.DateField(help_text="Inclusive.")
    leads_sold = serializers.IntegerField()
    gross = serializers.CharField(help_text='Decimal string to the cent, e.g. "90.00".')
    returns_count = serializers.IntegerField()
    returns = serializers.CharField(help_text="Negative: money given back.")
    adjustments_count = serializers.IntegerField()
    adjustments = serializers.CharField()
    net = serializers.CharField(help_text="What you owe (buyer) or are paid (publisher).")


class StatementView(PublicApiView):
    key_kinds = frozenset({"live", "buyer"})
    renderer_classes = [JSONRenderer, CsvRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        # Errors are JSON (SPEC §3) even when ?format=csv chose the CSV renderer.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.DATE, description="First day (default: 1st of this month)."
            ),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, description="Last day, inclusive (default: today)."
            ),
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv"],
                description="csv: a row per ledger entry (date, lead_id, kind, amount), then total",
            ),
        ],
        responses={
            200: StatementAnswer,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="The statement's rows as CSV."
            ),
            **error_responses(401, 403, 422, 429, 503),
        },
        tags=["statements"],
    )
    def get(self, request: Request) -> Any:
        """Your own statement for a period: a publisher's payouts (live key) or a
        buyer's charges (buyer key). Days are read in the exchange's time zone."""
        owner: Buyer | Publisher
        if self.key.buyer_id is not None:
            party, owner = "buyer", Buyer.objects.get(pk=self.key.buyer_id)
        else:
            party, owner = "publisher", Publisher.objects.get(pk=self.key.publisher_id or 0)
        try:
            period = parse_period(request.query_params.get("from"), request.query_params.get("to"))
        except PeriodInvalid as exc:
            raise ApiError(422, "invalid", str(exc), {"period": [str(exc)]}) from exc
        if request.query_params.get("format") == "csv":
            name = f"statement-{party}-{owner.slug}-{period.first}-{period.last}.csv"
            return stream_csv(csv_rows(party, owner, period.start, period.end), name)
        statement = party_statement(party, owner, period.start, period.end).as_dict()
        return Response(
            {
                **statement,
                "time_zone": str(exchange_zone()),
                "period_from": period.first.isoformat(),
                "period_to": period.last.isoformat(),
            }
        )
