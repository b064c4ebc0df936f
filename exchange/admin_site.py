"""The admin site: password log-in with a second factor, throttled against guessing.

Every staff user who has confirmed an authenticator (TOTP, django-otp) enters its code
at log-in. With ``ADMIN_2FA=required`` superusers and Finance must have one: until they
set it up, every admin page sends them to the set-up page. Failed log-ins are counted
per username and client address in the cache; past ``LOGIN_FAILURE_LIMIT`` in the
window the form refuses without checking the password.
"""

from __future__ import annotations

import base64
import math
from io import BytesIO
from typing import Any

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from .api.base import client_ip
from .roles import FINANCE


def second_factor_required(user: Any) -> bool:
    """Whether ``user`` may use the admin only with a confirmed authenticator."""
    if settings.ADMIN_2FA != "required":
        return False
    return user.is_superuser or user.groups.filter(name=FINANCE).exists()


def _throttle_key(username: str, request: Any) -> str:
    address = client_ip(request) if request is not None else ""
    digest = base64.urlsafe_b64encode(f"{username.lower()}|{address}".encode()).decode()
    return f"admin-login-failures:{digest}"


class LoginForm(AdminAuthenticationForm):
    """Username, password and, for a user with an authenticator, its current code."""

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=8,
        help_text="The 6 digits your authenticator app shows, if you set one up.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": "Too many failed log-ins for this account from your address: "
        "try again in %(minutes)d minutes.",
        "token_required": "Enter the code your authenticator app shows.",
        "invalid_token": "That authenticator code is not right (or has expired).",
        # django-otp's own words, with how long the wait is.
        "otp_throttled": "Verification temporarily disabled because of %(failures)d failed "
        "code(s): try again in %(seconds)d seconds, with the code showing then.",
    }

    device: Any = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        key = _throttle_key(username, self.request)
        if cache.get(key, 0) >= settings.LOGIN_FAILURE_LIMIT:
            raise ValidationError(
                self.error_messages["throttled"],
                code="throttled",
                params={"minutes": max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)},
            )
        try:
            cleaned = super().clean()
            user = self.get_user()
            if user is not None and user_has_device(user):
                token = (self.cleaned_data.get("otp_token") or "").strip()
                if not token:
                    raise ValidationError(
                        self.error_messages["token_required"], code="token_required"
                    )
                # While django-otp makes the authenticator wait after wrong codes, every
                # code is refused: say so, rather than calling a right code wrong.
                devices = TOTPDevice.objects.filter(user=user, confirmed=True)
                wait = _seconds_locked(devices)
                if wait:
                    raise ValidationError(
                        self.error_messages["otp_throttled"],
                        code="otp_throttled",
                        params={"failures": _failures(devices), "seconds": wait},
                    )
                self.device = match_token(user, token)
                if self.device is None:
                    raise ValidationError(
                        self.error_messages["invalid_token"], code="invalid_token"
                    )
        except ValidationError as exc:
            if exc.code in ("invalid_login", "invalid_token"):
                # add() then incr(): the window starts at the first failure.
                cache.add(key, 0, settings.LOGIN_FAILURE_WINDOW_SECONDS)
                try:
                    cache.incr(key)
                except ValueError:
                    cache.set(key, 1, settings.LOGIN_FAILURE_WINDOW_SECONDS)
            raise
        cache.delete(key)
        return cleaned


class SecondFactorLoginView(LoginView):
    form_class = LoginForm
    template_name = "admin/login.html"

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        device = getattr(form, "device", None)
        if device is not None:
            otp_login(self.request, device)
        return response


class SwitchyardAdminSite(admin.AdminSite):
    """Django's admin with the second factor in front of every page."""

    site_header = "Switchyard"
    site_title = "Switchyard"
    index_title = "Lead exchange"

    def second_factor_pending(self, request: HttpRequest) -> bool:
        """A signed-in staff user who still owes a second factor for this session."""
        user = request.user
        if not (user.is_active and user.is_staff) or user.is_verified():  # type: ignore[attr-defined]
            return False
        return user_has_device(user) or second_factor_required(user)

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and not self.second_factor_pending(request)

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        inner = super().admin_view(view, cacheable)

        # Logging out needs no second factor.
        exempt = getattr(view, "__name__", "") == "logout"
        out = csrf_protect(never_cache(view))

        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if exempt and self.second_factor_pending(request):
                # Django's own check would send a user without the permission (here: without
                # the second factor yet) from log-out to the index, never out.
                return out(request, *args, **kwargs)
            if not exempt and self.second_factor_pending(request):
                return HttpResponseRedirect(
                    reverse("admin:second_factor", current_app=self.name)
                    + f"?{REDIRECT_FIELD_NAME}={request.get_full_path()}"
                )
            return inner(request, *args, **kwargs)

        guarded.admin_site = self  # type: ignore[attr-defined]
        return guarded

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context = {**self.each_context(request), "title": "Log in", "subtitle": None}
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        view = SecondFactorLoginView.as_view(
            extra_context=context, template_name="admin/switchyard_login.html"
        )
        response: Any = view(request)
        return response

    def get_urls(self) -> list[URLResolver | URLPattern]:
        second_factor = path(
            "two-factor/", self.second_factor_view, name="second_factor"
        )  # not admin_view(): it is where admin_view sends a user without a second factor
        return [second_factor, *super().get_urls()]

    def second_factor_view(self, request: HttpRequest) -> HttpResponse:
        """Set up an authenticator (QR code, then a code to confirm it), or enter the code
        of the one already set up when this session has not."""
        user = request.user
        if not (user.is_active and user.is_staff):
            return HttpResponseRedirect(
                reverse("admin:login", current_app=self.name)
                + f"?{REDIRECT_FIELD_NAME}={request.get_full_path()}"
            )
        next_url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
        if not next_url or not url_has_allowed_host_and_scheme(
            next_url, {request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:index", current_app=self.name)
        confirmed = user_has_device(user)
        device = None
        if not confirmed:
            # One pending (unconfirmed) authenticator per user, kept across page loads so
            # the QR code scanned is the one confirmed.
            device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
            if device is None:
                device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
        error = ""
        if request.method == "POST":
            wait = _seconds_locked(
                [device] if device else TOTPDevice.objects.filter(user=user, confirmed=True)
            )
            token = request.POST.get("otp_token", "").strip()
            matched = device if device and not wait and device.verify_token(token) else None
            if confirmed and not wait:
                matched = match_token(user, token)
            if matched is not None:
                if not matched.confirmed:
                    matched.confirmed = True
                    matched.save(update_fields=["confirmed"])
                otp_login(request, matched)
                return HttpResponseRedirect(next_url)
            if wait:
                # django-otp refuses every code for a while after a wrong one (1 s, 2 s,
                # 4 s…); saying "not right" then sent people hunting for a clock problem.
                error = (
                    f"Too many wrong codes in a row: wait {wait} seconds, "
                    "then enter the code showing now."
                )
            else:
                error = "That code is not right (or has expired): try the one showing now."
        context = {
            **self.each_context(request),
            "is_nav_sidebar_enabled": False,
            "title": "Two-factor authentication",
            "confirmed": confirmed,
            "required": second_factor_required(user),
            "verified": user.is_verified(),  # type: ignore[attr-defined]
            "qr_svg": _qr_svg(device.config_url) if device else "",
            "secret": base64.b32encode(device.bin_key).decode() if device else "",
            "error": error,
            "next": next_url,
        }
        response = TemplateResponse(request, "admin/two_factor.html", context)
        response["Cache-Control"] = "no-store"  # the page shows the authenticator's secret
        return response


class SecondFactorMiddleware:
    """Outside the admin too (reports, anything a session opens), a staff user who owes a
    second factor gets only the set-up page, log-in and log-out. The publisher and buyer
    API (key-authenticated) and static files are left alone before the session is read."""

    OPEN_PREFIXES = ("/api/", "/static/", "/metrics", "/favicon.ico")

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if not path.startswith(self.OPEN_PREFIXES):
            site = admin.site
            if (
                isinstance(site, SwitchyardAdminSite)
                and request.user.is_authenticated
                and path not in _open_admin_paths(site)
                and site.second_factor_pending(request)
            ):
                return HttpResponseRedirect(
                    reverse("admin:second_factor", current_app=site.name)
                    + f"?{REDIRECT_FIELD_NAME}={path}"
                )
        return self.get_response(request)


def _seconds_locked(devices: Any) -> int:
    """Whole seconds until one of ``devices`` accepts a code again after wrong ones
    (django-otp's throttle); 0 when one accepts now."""
    waits = []
    for device in devices:
        allowed, details = device.verify_is_allowed()
        if allowed:
            return 0
        until = (details or {}).get("locked_until")
        waits.append(max(1, math.ceil((until - timezone.now()).total_seconds())) if until else 1)
    return min(waits, default=0)


def _failures(devices: Any) -> int:
    return max((d.throttling_failure_count for d in devices), default=0)


def _open_admin_paths(site: SwitchyardAdminSite) -> set[str]:
    return {
        reverse(f"{site.name}:{name}", current_app=site.name)
        for name in ("login", "logout", "second_factor", "jsi18n")
    }


def _qr_svg(text: str) -> str:
    """The QR code of ``text`` as inline SVG markup (no script, no style: CSP-safe)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return mark_safe(svg[svg.index("<svg") :])  # noqa: S308 (our own generated markup)
