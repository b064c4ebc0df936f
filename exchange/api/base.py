"""The base of every public API view: key authentication from the compiled config,
IP allowlist, rate limit, body limits, content types and the error format."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import Http404
from rest_framework.request import Empty, Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange import inbound
from exchange.config_cache import Config, KeyInfo, PublisherInfo, get_config
from exchange.models import hash_key
from plumbing.client_ip import client_ip as forwarded_client_ip
from plumbing.logs import bind

from .errors import ApiError
from .parsers import FormParser, JsonParser, TextXmlParser, XmlParser
from .ratelimit import hit

log = logging.getLogger(__name__)


class AnswerFirst(Response):
    """A response that runs ``after`` once it has been sent.

    The WSGI server calls ``close()`` when the last byte is out (Django's test client
    does too), so work that the answer does not depend on costs the caller nothing.
    A failure there is logged: the answer is already gone. A second ``close()`` does
    not run it again.
    """

    def __init__(self, data: Any, after: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.after: Callable[[], None] | None = after

    def close(self) -> None:
        after, self.after = self.after, None
        try:
            if after is not None:
                after()
        except Exception:
            log.exception("work after the answer failed")
        finally:
            super().close()


def client_ip(request: Request) -> str:
    """The caller's address, read through ``TRUSTED_PROXIES`` (``plumbing.client_ip``)."""
    return forwarded_client_ip(request.META)


def raw_key(request: Request) -> str:
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.META.get("HTTP_X_API_KEY", "").strip()


class PublicApiView(APIView):
    """Subclasses set ``key_kinds`` to the kinds of key they accept."""

    key_kinds: frozenset[str] = frozenset({"live", "test"})
    parser_classes = [JsonParser, FormParser, XmlParser, TextXmlParser]
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    config: Config
    key: KeyInfo
    publisher: PublisherInfo | None

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        """An unknown ``?format=`` is a 422 naming the formats, not DRF's bare 404."""
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            if force:
                raise
            formats = sorted({r.format for r in self.get_renderers()})
            raise ApiError(
                422,
                "invalid",
                "Unknown format.",
                {"format": [f"must be one of: {', '.join(formats)}"]},
            ) from None

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        self.arrived = time.perf_counter()
        return super().initialize_request(request, *args, **kwargs)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        """Every answer, refusals included, leaves an inbound log row (``exchange.inbound``)."""
        response = super().finalize_response(request, response, *args, **kwargs)
        try:
            inbound.record(self._seen(request, response))
        except Exception:
            log.exception("could not log an inbound call")
        return response

    def _seen(self, request: Request, response: Response) -> inbound.Seen:
        data = response.data if isinstance(getattr(response, "data", None), dict) else {}
        error = data.get("error")
        key = getattr(self, "key", None)
        try:
            body = request._request.body
            full_data = getattr(request, "_full_data", Empty)  # parsed already, or not
            parsed = None if full_data is Empty else full_data
        except Exception:  # too large, or unreadable: the row says so without it
            body, parsed = b"", None
        return inbound.Seen(
            method=request.method or "",
            path=request.path,
            status=response.status_code,
            error_code=str(error.get("code", "")) if isinstance(error, dict) else "",
            key_prefix=raw_key(request)[:12],
            publisher_id=key.publisher_id if key else None,
            buyer_id=key.buyer_id if key else None,
            lead_id=str(data.get("lead_id") or data.get("ping_id") or ""),
            client_ip=client_ip(request),
            latency_ms=(time.perf_counter() - getattr(self, "arrived", time.perf_counter())) * 1000,
            body=body,
            values=inbound.personal_values(parsed),
        )

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.config = get_config()
        key = raw_key(request)
        if not key:
            raise ApiError(
                401, "unauthenticated", "Send your API key as 'Authorization: Bearer <key>'."
            )
        info = self.config.keys.get(hash_key(key))
        if info is None or info.kind not in self.key_kinds:
            raise ApiError(401, "unauthenticated", "This API key is not valid here.")
        self.key = info
        self.publisher = None
        if info.publisher_id is not None:
            publisher = self.config.publishers[info.publisher_id]
            if not publisher.is_active:
                raise ApiError(403, "publisher_paused", "Your publisher account is paused.")
            self.publisher = publisher
            bind(publisher=publisher.slug)

        # Publisher and buyer keys alike: the owner's IP allowlist, then its rate limit.
        ip = client_ip(request)
        if not info.allows_ip(ip):
            raise ApiError(403, "ip_not_allowed", f"Calls from {ip} are not allowed.")
        if info.rate_limit:
            wait = hit(info.id, info.rate_limit)
            if wait:
                raise ApiError(
                    429,
                    "rate_limited",
                    "Too many requests; slow down.",
                    headers={"Retry-After": str(wait)},
                )
        if request.method in ("POST", "PUT", "PATCH"):
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            if length > settings.SWITCHYARD["MAX_BODY_BYTES"]:
                raise ApiError(413, "too_large", "The request body is too large.")

    def body(self, request: Request) -> dict[str, Any]:
        if not request._request.body:
            raise ApiError(400, "malformed", "The request body is empty.")
        data = request.data
        if not isinstance(data, dict):
            raise ApiError(400, "malformed", "The body must be an object.")
        return data
