"""``/metrics``, for Prometheus: ``Authorization: Bearer $METRICS_TOKEN``."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from . import metrics


@require_GET
def scrape(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        answer = JsonResponse(
            {
                "error": {
                    "code": "unauthorized",
                    "message": "Send Authorization: Bearer <METRICS_TOKEN>."
                    if token
                    else "METRICS_TOKEN is not set: /metrics is off.",
                }
            },
            status=401,
        )
        answer["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return answer
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
