"""The compliance API: suppressions and deletion requests, for publisher and buyer keys."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from exchange.api.base import PublicApiView, raw_key
from exchange.api.codes import error_responses
from exchange.api.errors import ApiError
from leads.models_compliance import DeletionRequest, SuppressionSource
from leads.privacy import file_deletion_request
from leads.suppression import SuppressionError, suppress

ERRORS = error_responses(400, 401, 403, 404, 413, 415, 422, 429, 503)


class SuppressionRequest(serializers.Serializer):
    phone = serializers.CharField(required=False)
    email = serializers.EmailField(required=False)
    reason = serializers.CharField(required=False, max_length=200)


class SuppressionAnswer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text='"suppressed"')
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class DeletionRequestBody(serializers.Serializer):
    phone = serializers.CharField(required=False)
    email = serializers.EmailField(required=False)


class DeletionAnswer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["received", "processing", "done", "failed"])
    created_at = serializers.DateTimeField()
    done_at = serializers.DateTimeField(required=False, allow_null=True)
    leads_erased = serializers.IntegerField(required=False)


class ComplianceApiView(PublicApiView):
    """Publishers (live keys) and buyers may both report opt-outs and deletion requests."""

    key_kinds = frozenset({"live", "test", "buyer"})

    def who(self, request: Request) -> str:
        prefix = raw_key(request)[:12]
        if self.publisher is not None:
            return f"publisher {self.publisher.slug} (key {prefix}…)"
        return f"buyer #{self.key.buyer_id} (key {prefix}…)"

    def fields(self, request: Request) -> dict[str, Any]:
        """The body's fields. A form or XML body is read as a lead's (``phone=…`` lands
        under ``lead``, beside envelope keys such as ``reason``): its fields are taken
        back to the top, so every body format the API accepts works here too."""
        body = self.body(request)
        if request.content_type.startswith("application/json"):
            return body
        flat = {k: v for k, v in body.items() if k != "lead"}
        lead = body.get("lead")
        if isinstance(lead, dict):
            flat.update(lead)
        return flat

    def fields_error(self, exc: SuppressionError) -> ApiError:
        return ApiError(422, "invalid", "Some fields are invalid.", exc.fields)


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class SuppressionsView(ComplianceApiView):
    @extend_schema(
        request=SuppressionRequest,
        responses={201: SuppressionAnswer, **ERRORS},
        tags=["compliance"],
    )
    def post(self, request: Request) -> Response:
        """Add a person (phone and/or email) to the suppression list: their leads are
        answered ``suppressed`` from now on and never reach a buyer. Only keyed hashes
        of the values are stored."""
        body = self.fields(request)
        unknown = sorted(set(body) - {"phone", "email", "reason"})
        if unknown:
            raise ApiError(
                422, "invalid", "Unknown fields.", {k: ["unknown field"] for k in unknown}
            )
        try:
            entry = suppress(
                phone=body.get("phone"),
                email=body.get("email"),
                reason=body.get("reason") or "",
                source=SuppressionSource.API,
                added_by=self.who(request),
            )
        except SuppressionError as exc:
            raise self.fields_error(exc) from exc
        return Response(
            {
                "id": entry.pk,
                "status": "suppressed",
                "reason": entry.reason,
                "created_at": _iso(entry.created_at),
            },
            status=201,
        )


def _deletion(request: DeletionRequest) -> dict[str, Any]:
    return {
        "id": str(request.pk),
        "status": request.status,
        "created_at": _iso(request.created_at),
        "done_at": _iso(request.done_at),
        "leads_erased": request.leads_erased,
    }


class DeletionsView(ComplianceApiView):
    @extend_schema(
        request=DeletionRequestBody, responses={202: DeletionAnswer, **ERRORS}, tags=["compliance"]
    )
    def post(self, request: Request) -> Response:
        """File a person's deletion request (phone and/or email). It is processed in the
        background: their personal data is erased (money rows are kept) and they are
        suppressed. Follow it with ``GET /api/v1/privacy/deletions/{id}``."""
        body = self.fields(request)
        unknown = sorted(set(body) - {"phone", "email"})
        if unknown:
            raise ApiError(
                422, "invalid", "Unknown fields.", {k: ["unknown field"] for k in unknown}
            )
        try:
            filed = file_deletion_request(
                phone=body.get("phone"),
                email=body.get("email"),
                source=SuppressionSource.API,
                requested_by=self.who(request),
                api_key_id=self.key.id,
            )
        except SuppressionError as exc:
            raise self.fields_error(exc) from exc
        return Response(_deletion(filed), status=202)


class DeletionDetailView(ComplianceApiView):
    @extend_schema(responses={200: DeletionAnswer, **ERRORS}, tags=["compliance"])
    def get(self, request: Request, request_id: str) -> Response:
        """Where a deletion request you filed stands."""
        try:
            filed = DeletionRequest.objects.get(pk=uuid.UUID(request_id), api_key_id=self.key.id)
        except (ValueError, DeletionRequest.DoesNotExist):
            raise ApiError(
                404, "not_found", "No deletion request with this id for your key."
            ) from None
        return Response(_deletion(filed))
