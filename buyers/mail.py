"""E-mail delivery: a post endpoint for buyers without an API (format ``email``).

The endpoint's URL is ``mailto:leads@buyer.example`` (several addresses: comma
separated). The mapped lead is rendered as text, one ``field: value`` line each, with
the same fields as a JSON attachment, and sent through Django's mail backend
(``EMAIL_BACKEND``). It goes through the same outbox, claims, retries, caps and ledger
as an HTTP post: the backend taking the message is acceptance, a refused recipient is
permanent, any other failure (the mail server down) is retried.
"""

from __future__ import annotations

import smtplib
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import URLValidator, validate_email

from .choices import BodyFormat, EndpointKind
from .outbound_guard import validate_outbound_url
from .transport import OutboundRequest, OutboundResponse

MAILTO = "mailto:"
_http_url = URLValidator(schemes=["http", "https"])


def recipients(url: str) -> list[str]:
    return [a.strip() for a in url.removeprefix(MAILTO).split("?")[0].split(",") if a.strip()]


def validate_endpoint_url(value: str) -> None:
    """An endpoint's URL: http(s) that outbound safety allows, or ``mailto:`` addresses."""
    if value.startswith(MAILTO):
        addresses = recipients(value)
        if not addresses:
            raise ValidationError("A mailto: URL needs an address, e.g. mailto:leads@buyer.example")
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError as exc:
                raise ValidationError(f"{address!r} is not an e-mail address.") from exc
        return
    _http_url(value)
    validate_outbound_url(value)


def email_problems(kind: str, fmt: str, url: str) -> list[str]:
    """An e-mail endpoint is a post endpoint with a mailto: URL, and only it has one."""
    is_mailto = url.startswith(MAILTO)
    if fmt == BodyFormat.EMAIL:
        if kind != EndpointKind.POST:
            return ["E-mail delivery is for posts: a ping needs an answer."]
        if not is_mailto:
            return ["An e-mail endpoint's URL is mailto:address."]
    elif is_mailto:
        return ["A mailto: URL needs the e-mail format."]
    return []


def subject_for(headers: dict[str, str], values: Any) -> str:
    return headers.pop("Subject", "") or f"New lead {values.get('lead.id', '')}".strip()


def send_email(request: OutboundRequest) -> OutboundResponse:
    """Hand the message to the mail backend; the answer reads like an HTTP one."""
    started = time.perf_counter()
    headers = dict(request.headers)
    subject = headers.pop("Subject", "New lead")
    headers.pop("Content-Type", None)
    message = EmailMessage(
        subject=subject,
        body=request.body.decode("utf-8"),
        from_email=settings.LEAD_EMAIL_FROM or settings.DEFAULT_FROM_EMAIL,
        to=recipients(request.url),
        headers=headers,
        connection=get_connection(timeout=request.timeout_s),
    )
    if request.attachment:
        message.attach("lead.json", request.attachment, "application/json")

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        return OutboundResponse(error="refused", detail=f"recipients refused: {exc}"[:300])
    except (smtplib.SMTPException, OSError) as exc:
        detail = f"mail server: {type(exc).__name__}: {exc}"[:300]
        return OutboundResponse(error="transport_error", detail=detail, elapsed_ms=elapsed())
    return OutboundResponse(
        status=200, body=b"sent", content_type="text/plain", elapsed_ms=elapsed()
    )
