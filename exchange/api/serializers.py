"""Shapes shared by every API (errors) and the health check, for the OpenAPI schema."""

from __future__ import annotations

from rest_framework import serializers


class ErrorBody(serializers.Serializer):
    error = serializers.DictField()


class Health(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    checks = serializers.DictField()
