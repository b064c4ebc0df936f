from __future__ import annotations

from django.db import models


class PricingModel(models.TextChoices):
    FIXED = "fixed", "Fixed price"
    DYNAMIC = "dynamic", "Dynamic (from the ping answer)"


class EndpointKind(models.TextChoices):
    PING = "ping"
    POST = "post"


class BodyFormat(models.TextChoices):
    JSON = "json", "JSON"
    XML = "xml", "XML"
    FORM = "form", "Form (x-www-form-urlencoded)"
    EMAIL = "email", "E-mail (to the address in the URL, mailto:)"


class HttpMethod(models.TextChoices):
    POST = "POST"
    PUT = "PUT"
    GET = "GET"


class AuthType(models.TextChoices):
    NONE = "none", "None"
    HEADER = "header", "Header API key"
    BASIC = "basic", "Basic"
    BEARER = "bearer", "Bearer token"
    OAUTH2 = "oauth2", "OAuth2 client credentials"
    HMAC = "hmac", "HMAC signature header"


class Outcome(models.TextChoices):
    """The class of every outbound call (SPEC §4)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    TRANSPORT_ERROR = "transport_error"
    HTTP_ERROR = "http_error"
    BAD_RESPONSE = "bad_response"
    CIRCUIT_OPEN = "circuit_open"
    SIMULATED = "simulated"


class CapPeriod(models.TextChoices):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    TOTAL = "total"


class CircuitStatus(models.TextChoices):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
