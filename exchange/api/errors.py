"""The one error format of the API: ``{"error": {"code", "message", "fields"?}}``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

from plumbing.dependencies import DEPENDENCY_ERRORS, RETRY_AFTER_S

log = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message, code)
        self.status_code, self.code, self.message = status_code, code, message
        self.fields, self.headers = fields, headers or {}


def error_body(code: str, message: str, fields: dict | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


_DRF_CODES: list[tuple[type[Exception], int, str]] = [
    (exceptions.ParseError, 400, "malformed"),
    (exceptions.UnsupportedMediaType, 415, "unsupported_media_type"),
    (exceptions.NotAuthenticated, 401, "unauthenticated"),
    (exceptions.AuthenticationFailed, 401, "unauthenticated"),
    (exceptions.PermissionDenied, 403, "forbidden"),
    (exceptions.NotFound, 404, "not_found"),
    (exceptions.MethodNotAllowed, 405, "method_not_allowed"),
    (exceptions.NotAcceptable, 406, "not_acceptable"),
    (exceptions.Throttled, 429, "rate_limited"),
    (exceptions.ValidationError, 422, "invalid"),
]


def dependency_down(exc: BaseException) -> dict[str, Any]:
    log.error("a dependency is down: %s: %s", type(exc).__name__, exc)
    return error_body(
        "unavailable", "A service the exchange depends on is unavailable; retry shortly."
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, DEPENDENCY_ERRORS):
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        return Response(dependency_down(exc), 503, headers=headers)
    if isinstance(exc, ApiError):
        return Response(
            error_body(exc.code, exc.message, exc.fields), exc.status_code, headers=exc.headers
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("too_large", "The request body is too large."), 413)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", "Not found."), 404)
    for kind, code_status, code in _DRF_CODES:
        if isinstance(exc, kind):
            detail = getattr(exc, "detail", str(exc))
            fields = detail if isinstance(detail, dict) else None
            message = str(detail) if not fields else "Some fields are invalid."
            headers = {}
            wait = getattr(exc, "wait", None)  # how long a Throttled caller must wait
            if isinstance(exc, exceptions.Throttled) and wait:
                headers["Retry-After"] = str(int(wait) + 1)
            return Response(error_body(code, message, fields), code_status, headers=headers)
    # Anything else is our bug: a JSON 500, logged with its traceback.
    log.exception("unhandled error in %s", context.get("view"))
    return Response(
        error_body("internal_error", "Something went wrong on our side; it has been logged."),
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


# Outside the API views (a URL that matches no endpoint, a failure outside DRF), Django
# answers by itself: under /api/ that answer keeps the error format too.


@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Every /api/v1/ URL that no endpoint matches, whatever the method."""
    return JsonResponse(error_body("not_found", "There is no such API endpoint."), status=404)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


# Paths machines call (the API, Prometheus' scrape): their failures are JSON too.
MACHINE_PREFIXES = ("/api/", "/metrics")


class DependencyErrorMiddleware:
    """Under /api/ and on /metrics, a database, broker or cache failure outside the DRF views (which
    have ``exception_handler``) is a JSON 503 too, never Django's 500 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not request.path.startswith(MACHINE_PREFIXES) or not isinstance(exc, DEPENDENCY_ERRORS):
            return None
        response = JsonResponse(dependency_down(exc), status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(MACHINE_PREFIXES):
        body = error_body("internal_error", "Something went wrong on our side; it has been logged.")
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
