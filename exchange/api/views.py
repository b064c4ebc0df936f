"""The health check (liveness with its dependencies), shared by every deployment."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.celery import app

from . import serializers as s


class HealthView(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    @extend_schema(responses={200: s.Health, 503: s.Health}, tags=["health"])
    def get(self, request: Request) -> Response:
        """Liveness with database, cache and broker checks; 503 when any fails."""
        checks = {"database": _check_database(), "cache": _check_cache(), "broker": _check_broker()}
        ok = all(v == "ok" for v in checks.values())
        return Response(
            {"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503
        )


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_cache() -> str:
    try:
        cache.set("health", "1", 5)
        return "ok" if cache.get("health") == "1" else "error: cache did not keep a value"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_broker() -> str:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
