"""Credentials turned into request headers, including OAuth2 client credentials.

OAuth2 tokens are cached in this process and in the shared cache (Redis in
production) so every process reuses one token until shortly before it expires.
A buyer may revoke a token early: a call answered 401 renews it once and is sent
again (``reauthorizer``), and the calls refused alongside it share the new token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeGuard

import requests
from django.core.cache import cache

from .choices import AuthType

if TYPE_CHECKING:
    from .compiled import CredentialInfo

TOKEN_REFRESH_MARGIN_S = 60
TOKEN_FETCH_TIMEOUT_S = 5

# Both keyed by _cache_key: a credential edited to another client or token endpoint
# never reuses the token the old one was given.
_local_tokens: dict[str, tuple[str, float]] = {}
_token_locks: dict[str, threading.Lock] = {}


class CredentialError(Exception):
    """A credential that cannot produce headers (missing secret, token endpoint down)."""


def secret_of(cred: CredentialInfo) -> str:
    if cred.secret_env:
        value = os.environ.get(cred.secret_env, "")
        if not value:
            raise CredentialError(f"environment variable {cred.secret_env} is not set")
        return value
    return cred.secret or ""


def _cache_key(cred: CredentialInfo) -> str:
    issuer = f"{cred.token_url}\n{cred.client_id}\n{cred.scope}"
    return f"oauth2-token:{cred.id}:{hashlib.sha256(issuer.encode()).hexdigest()[:16]}"


def _lock_for(key: str) -> threading.Lock:
    # One lock per token, so a slow token endpoint holds up only its own buyer's calls
    # (dict.setdefault is atomic: two threads always get the same lock).
    return _token_locks.setdefault(key, threading.Lock())


def _usable(token: Any, now: float) -> TypeGuard[tuple[str, float]]:
    """A cached (token, expires_at) that is not about to expire."""
    return bool(token) and token[1] - TOKEN_REFRESH_MARGIN_S > now


def fetch_oauth2_token(
    cred: CredentialInfo, timeout_s: float = TOKEN_FETCH_TIMEOUT_S
) -> tuple[str, float]:
    """Ask the token endpoint for a client-credentials token: (token, expires_at epoch)."""
    data = {"grant_type": "client_credentials"}
    if cred.scope:
        data["scope"] = cred.scope
    try:
        response = requests.post(
            cred.token_url,
            data=data,
            auth=(cred.client_id, secret_of(cred)),
            timeout=timeout_s,
        )
        response.raise_for_status()
        payload = response.json()
        token = payload["access_token"]
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise CredentialError(f"OAuth2 token request failed: {exc}") from exc
    return token, time.time() + float(payload.get("expires_in", 3600))


def oauth2_token(cred: CredentialInfo) -> str:
    key = _cache_key(cred)
    local = _local_tokens.get(key)
    if local is not None and _usable(local, time.time()):
        return local[0]
    with _lock_for(key):
        shared = cache.get(key)
        if _usable(shared, time.time()):
            _local_tokens[key] = (shared[0], shared[1])
            return shared[0]
        return _fetch_and_store(cred, key)


def renew_oauth2_token(
    cred: CredentialInfo, refused: str, timeout_s: float = TOKEN_FETCH_TIMEOUT_S
) -> str:
    """A token other than ``refused``, which the buyer answered 401 to: the one another
    refused call has just fetched, if any, else a new one. N calls refused at once
    (a fan-out, several workers) so fetch one token, not N."""
    key = _cache_key(cred)
    with _lock_for(key):
        now = time.time()
        for known in (_local_tokens.get(key), cache.get(key)):
            if _usable(known, now) and known[0] != refused:
                _local_tokens[key] = (known[0], known[1])
                return known[0]
        return _fetch_and_store(cred, key, timeout_s)


def _fetch_and_store(
    cred: CredentialInfo, key: str, timeout_s: float = TOKEN_FETCH_TIMEOUT_S
) -> str:
    token, expires_at = fetch_oauth2_token(cred, timeout_s)
    _local_tokens[key] = (token, expires_at)
    cache.set(key, (token, expires_at), timeout=max(1, int(expires_at - time.time())))
    return token


def forget_oauth2_token(cred: CredentialInfo) -> None:
    key = _cache_key(cred)
    _local_tokens.pop(key, None)
    cache.delete(key)


def reauthorizer(
    cred: CredentialInfo | None, sent: Mapping[str, str]
) -> Callable[[float], dict[str, str] | None] | None:
    """How to authenticate a call sent with headers ``sent`` anew after a 401, given
    the seconds left: None for credentials a second try cannot change (only an OAuth2
    token can be revoked before it expires)."""
    if cred is None or cred.type != AuthType.OAUTH2:
        return None
    refused = sent.get("Authorization", "").removeprefix("Bearer ")

    def renewed_headers(timeout_s: float) -> dict[str, str] | None:
        try:
            return {"Authorization": f"Bearer {renew_oauth2_token(cred, refused, timeout_s)}"}
        except CredentialError:
            return None  # the 401 stands

    return renewed_headers


def auth_headers(cred: CredentialInfo | None, body: bytes) -> dict[str, str]:
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


def masked_headers(headers: dict[str, str], cred: CredentialInfo | None) -> dict[str, str]:
    """Headers safe to store or show: credential values replaced."""
    hidden = set(SECRET_HEADERS)
    if cred is not None and cred.header_name:
        hidden.add(cred.header_name.lower())
    return {k: ("***" if k.lower() in hidden else v) for k, v in headers.items()}
