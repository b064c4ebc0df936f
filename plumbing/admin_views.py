"""Custom admin views that declare the permissions they need and check them."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from .money import money_label, money_text  # noqa: F401  (re-exported)


def money_column(field: str, description: str) -> Callable[[Any, Any], str]:
    """An admin column or read-only field showing the Decimal ``field`` with its currency
    and ``money_text`` (the admin's default shows every stored place: 17.9800), sortable
    by the field."""

    def show(self: Any, obj: Any) -> str:
        return money_label(getattr(obj, field))

    show.short_description = description  # type: ignore[attr-defined]
    show.admin_order_field = field  # type: ignore[attr-defined]
    show.__name__ = f"{field}_money"
    return show


MONEY_PLACES = 4  # money fields keep four places (ledger precision); rates keep fewer


def _money_field(model: Any, name: str) -> Any:
    try:
        field = model._meta.get_field(name)
    except Exception:  # not a model field (a method, a related name...)
        return None
    if isinstance(field, models.DecimalField) and field.decimal_places == MONEY_PLACES:
        return field
    return None


class MoneyFieldsMixin:
    """Read-only pages (no change permission) show a money field as ``money_label``
    (``$15.84``) instead of the admin's every stored place (``15.8400``): the field's
    name is swapped for ``<name>_money``, a display made on demand."""

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)  # type: ignore[misc]
        if self.has_change_permission(request, obj):
            return fields  # editable: the form's own box
        model = self.model
        return [
            f"{f}_money" if isinstance(f, str) and _money_field(model, f) else f for f in fields
        ]

    def __getattr__(self, name: str) -> Any:
        if name.endswith("_money") and not name.startswith("_"):
            field = _money_field(getattr(self, "model", None), name[: -len("_money")])
            if field is not None:
                return types.MethodType(
                    money_column(field.name, str(field.verbose_name).capitalize()), self
                )
        raise AttributeError(name)


SHORT_ID_LENGTH = 8


def short_id(value: Any, url: str = "") -> str:
    """A long id (a UUID) as its first characters, whole on hover; a link when ``url``
    is given. Styled by ``exchange/static/exchange/admin_lists.css`` (monospace, never wrapped)."""
    if value is None or value == "":
        return "—"
    text = str(value)
    if url:
        return format_html('<a class="short-id" href="{}" title="{}">{}</a>', url, text, text[:8])
    return format_html('<span class="short-id" title="{}">{}</span>', text, text[:8])


def local_time(value: Any) -> str:
    """An instant in the exchange's time zone, to the second (the admin's lists use the
    same format, ``exchange/formats``)."""
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def relative_time(value: Any, now: Any = None) -> str:
    """How far ``value`` is from now, computed when the page is drawn: ``in 25 s``,
    ``3 min ago``; the exact time is beside it in ``local_time``."""
    if value is None:
        return "—"
    seconds = round((value - (now or timezone.now())).total_seconds())
    span = abs(seconds)
    if span < 90:
        amount = f"{span} s"
    elif span < 90 * 60:
        amount = f"{round(span / 60)} min"
    else:
        amount = f"{span / 3600:.1f} h"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


class AdminListsMedia:
    """The stylesheet of short ids and compact columns, for a ModelAdmin's ``Media``."""

    css = {"all": ["exchange/admin_lists.css"]}


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
