"""Credentials turned into request headers, including OAuth2 client credentials.

OAuth2 tokens are cached in this process and in the shared cache (Redis in
production) so every process reuses one token until shortly before it expires;
a 401 from the buyer drops the token so the next call fetches a new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from typing import Any

import requests
from django.core.cache import cache

from .choices import AuthType

TOKEN_REFRESH_MARGIN_S = 60
TOKEN_FETCH_TIMEOUT_S = 5

_local_tokens: dict[int, tuple[str, float]] = {}
_token_lock = threading.Lock()


class CredentialError(Exception):
    """A credential that cannot produce headers (missing secret, token endpoint down)."""


def secret_of(cred: Any) -> str:
    if cred.secret_env:
        value = os.environ.get(cred.secret_env, "")
        if not value:
            raise CredentialError(f"environment variable {cred.secret_env} is not set")
        return value
    return cred.secret or ""


def _cache_key(cred: Any) -> str:
    return f"oauth2-token:{cred.id}:{hashlib.sha256(cred.token_url.encode()).hexdigest()[:12]}"


def fetch_oauth2_token(cred: Any) -> tuple[str, float]:
    """Ask the token endpoint for a client-credentials token: (token, expires_at epoch)."""
    data = {"grant_type": "client_credentials"}
    if cred.scope:
        data["scope"] = cred.scope
    try:
        response = requests.post(
            cred.token_url,
            data=data,
            auth=(cred.client_id, secret_of(cred)),
            timeout=TOKEN_FETCH_TIMEOUT_S,
        )
        response.raise_for_status()
        payload = response.json()
        token = payload["access_token"]
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise CredentialError(f"OAuth2 token request failed: {exc}") from exc
    return token, time.time() + float(payload.get("expires_in", 3600))


def oauth2_token(cred: Any) -> str:
    now = time.time()
    local = _local_tokens.get(cred.id)
    if local and local[1] - TOKEN_REFRESH_MARGIN_S > now:
        return local[0]
    with _token_lock:
        shared = cache.get(_cache_key(cred))
        if shared and shared[1] - TOKEN_REFRESH_MARGIN_S > now:
            _local_tokens[cred.id] = tuple(shared)  # type: ignore[assignment]
            return shared[0]
        token, expires_at = fetch_oauth2_token(cred)
        _local_tokens[cred.id] = (token, expires_at)
        cache.set(_cache_key(cred), (token, expires_at), timeout=max(1, int(expires_at - now)))
        return token


def forget_oauth2_token(cred: Any) -> None:
    _local_tokens.pop(cred.id, None)
    cache.delete(_cache_key(cred))


def auth_headers(cred: Any | None, body: bytes) -> dict[str, str]:
    """Headers that authenticate ``body`` with ``cred`` (None: no auth)."""
    if cred is None or cred.type == AuthType.NONE:
        return {}
    if cred.type == AuthType.HEADER:
        return {cred.header_name or "X-API-Key": secret_of(cred)}
    if cred.type == AuthType.BASIC:
        raw = f"{cred.username}:{secret_of(cred)}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    if cred.type == AuthType.BEARER:
        return {"Authorization": f"Bearer {secret_of(cred)}"}
    if cred.type == AuthType.OAUTH2:
        return {"Authorization": f"Bearer {oauth2_token(cred)}"}
    if cred.type == AuthType.HMAC:
        digest = hmac.new(secret_of(cred).encode(), body, hashlib.sha256).hexdigest()
        return {cred.header_name or "X-Signature": f"sha256={digest}"}
    raise CredentialError(f"unknown credential type {cred.type!r}")


SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-signature", "proxy-authorization"})


def masked_headers(headers: dict[str, str], cred: Any | None) -> dict[str, str]:
    """Headers safe to store or show: credential values replaced."""
    hidden = set(SECRET_HEADERS)
    if cred is not None and cred.header_name:
        hidden.add(cred.header_name.lower())
    return {k: ("***" if k.lower() in hidden else v) for k, v in headers.items()}
