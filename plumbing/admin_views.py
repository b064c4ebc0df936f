"""Custom admin views that declare the permissions they need and check them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from .money import money_text


def money_column(field: str, description: str) -> Callable[[Any, Any], str]:
    """An admin column or read-only field showing the Decimal ``field`` with
    ``money_text`` (the admin's default shows every stored place: 17.9800), sortable
    by the field."""

    def show(self: Any, obj: Any) -> str:
        return money_text(getattr(obj, field))

    show.short_description = description  # type: ignore[attr-defined]
    show.admin_order_field = field  # type: ignore[attr-defined]
    show.__name__ = f"{field}_money"
    return show


def permitted_view(
    admin_site: Any, view: Callable[..., HttpResponse], permissions: list[str]
) -> Callable[..., HttpResponse]:
    """``admin_site.admin_view(view)`` that answers 403 to a staff user lacking any of
    ``permissions`` ("app_label.codename"); superusers have them all."""

    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perms(permissions):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    checked.permissions = list(permissions)  # type: ignore[attr-defined]
    return admin_site.admin_view(checked)


def secret_page(request: HttpRequest, context: dict[str, Any], template: str) -> HttpResponse:
    """A page that shows a secret once: never cached, never stored in a cookie."""
    response = TemplateResponse(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


# Minting a publisher or buyer key needs exchange.add_apikey: the owner's own change
# permission is not enough.
MINT_KEY_PERMISSION = "exchange.add_apikey"


class MintKeysMixin:
    """Key-minting actions (``permissions=["mint_key"]``): the new keys are shown once,
    on a page of their own, never in a flash message or a cookie."""

    def has_mint_key_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MINT_KEY_PERMISSION)

    def show_new_keys(self, request: HttpRequest, keys: list[tuple[Any, Any, str]]) -> HttpResponse:
        """``keys``: (owner, ApiKey, raw key) for each key made."""
        model_admin: Any = self
        for owner, key, _raw in keys:
            model_admin.log_addition(request, owner, f"Minted {key.kind} key {key.prefix}…")
        context = {
            **model_admin.admin_site.each_context(request),
            "title": "New API keys: copy them now",
            "opts": model_admin.model._meta,
            "keys": keys,
        }
        return secret_page(request, context, "admin/exchange/new_keys.html")
