"""Shapes shared by every API (errors) and the health check, for the OpenAPI schema."""

from __future__ import annotations

from rest_framework import serializers


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine code: see the error codes table.")
    message = serializers.CharField(help_text="For people; may change wording.")
    # Named as the answer names it; DRF's metaclass takes it out of the class attributes,
    # so it does not shadow Serializer.fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='Per field, what is wrong; lead fields are keyed "lead.<name>".',
    )


class ErrorBody(serializers.Serializer):
    error = ErrorDetail()


class Health(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    checks = serializers.DictField()
