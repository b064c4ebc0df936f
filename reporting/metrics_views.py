"""``/metrics``, for Prometheus: ``Authorization: Bearer $METRICS_TOKEN``."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST

from . import metrics


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


# A scrape carries no session: CSRF's HTML 403 would answer a POST before the JSON 405.
@csrf_exempt
def scrape(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        answer = _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
        answer["Allow"] = "GET, HEAD"
        return answer
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        answer = _error(
            401,
            "unauthenticated",  # as the API says for a missing or wrong key (SPEC §3)
            "Send Authorization: Bearer <METRICS_TOKEN>."
            if token
            else "METRICS_TOKEN is not set: /metrics is off.",
        )
        answer["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return answer
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
