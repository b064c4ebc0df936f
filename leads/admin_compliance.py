"""Compliance screens: the suppression list (with its CSV upload and export) and
deletion requests (filed here, followed here). Writes go through the services."""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from plumbing.pii import email_hash, normalize_phone, phone_hash

from .models_compliance import DeletionRequest, DeletionStatus, Suppression, SuppressionSource
from .privacy import file_deletion_request, process_deletion
from .suppression import SuppressionError, export_csv, import_csv, person_from, suppress

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _who(request: HttpRequest) -> str:
    return f"admin: {request.user.get_username()}"


def _hash_search(term: str) -> Q:
    """A search box over hashes: the phone or email typed is hashed, never stored."""
    term = term.strip()
    q = Q(pk__in=[])
    if "@" in term:
        q |= Q(email_hash=email_hash(term))
    e164 = normalize_phone(term) if term else None
    if e164:
        q |= Q(phone_hash=phone_hash(e164))
    return q


class SuppressionForm(forms.ModelForm):
    phone = forms.CharField(required=False, help_text="Stored as a keyed hash only.")
    email = forms.CharField(required=False, help_text="Stored as a keyed hash only.")

    class Meta:
        model = Suppression
        fields = ["reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            person_from(data.get("phone") or None, data.get("email") or None)
        except SuppressionError as exc:
            for name, problems in exc.fields.items():
                self.add_error(name if name in ("phone", "email") else None, problems)
        return data


class CsvUploadForm(forms.Form):
    file = forms.FileField(help_text="Columns phone,email,reason (a header line first).")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB; split it.")
        return upload


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    form = SuppressionForm
    list_display = [
        "created_at",
        "short_phone_hash",
        "short_email_hash",
        "reason",
        "source",
        "added_by",
    ]
    list_filter = ["source", "created_at"]
    search_fields = ["reason", "added_by"]
    search_help_text = "A phone number or email address (hashed to search), a reason or who."
    date_hierarchy = "created_at"
    change_list_template = "admin/leads/suppression/change_list.html"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an entry is added or removed, never edited

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Suppression], search_term: str
    ) -> tuple[QuerySet[Suppression], bool]:
        found, distinct = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            found = found | queryset.filter(_hash_search(search_term))
        return found, distinct

    @admin.display(description="phone (hash)")
    def short_phone_hash(self, obj: Suppression) -> str:
        return f"{obj.phone_hash[:12]}…" if obj.phone_hash else "—"

    @admin.display(description="email (hash)")
    def short_email_hash(self, obj: Suppression) -> str:
        return f"{obj.email_hash[:12]}…" if obj.email_hash else "—"

    def save_model(self, request: HttpRequest, obj: Suppression, form: Any, change: bool) -> None:
        saved = suppress(
            phone=form.cleaned_data.get("phone") or None,
            email=form.cleaned_data.get("email") or None,
            reason=form.cleaned_data.get("reason") or "",
            source=SuppressionSource.ADMIN,
            added_by=_who(request),
            user=request.user,
        )
        obj.pk = saved.pk

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="leads_suppression_upload",
            ),
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="leads_suppression_export",
            ),
        ]
        return [*extra, *super().get_urls()]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a CSV of phone,email,reason: every row is added, or none."""
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        errors: list[str] = []
        form = CsvUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")
            result = import_csv(
                text,
                source=SuppressionSource.CSV,
                added_by=f"{_who(request)} ({upload.name})"[:200],
                user=request.user,
            )
            if not result.errors:
                self.message_user(
                    request,
                    f"Suppressed {result.added} person(s) from {upload.name}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:leads_suppression_changelist"))
            errors = result.errors
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Upload a suppression list",
            "form": form,
            "errors": errors,
        }
        return TemplateResponse(request, "admin/leads/suppression/upload.html", context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The whole list as CSV: hashes, reason, source, who, when."""
        if not self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="suppressions.csv"'
        export_csv(response)
        return response


class DeletionRequestForm(forms.ModelForm):
    phone = forms.CharField(required=False)
    email = forms.CharField(required=False)
    requested_by = forms.CharField(
        required=False, help_text="Who asked, e.g. 'consumer by phone, ticket 1234'."
    )

    class Meta:
        model = DeletionRequest
        fields: list[str] = []

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            person_from(data.get("phone") or None, data.get("email") or None)
        except SuppressionError as exc:
            for name, problems in exc.fields.items():
                self.add_error(name if name in ("phone", "email") else None, problems)
        return data


@admin.register(DeletionRequest)
class DeletionRequestAdmin(admin.ModelAdmin):
    """File a person's deletion request and follow it until it is done."""

    form = DeletionRequestForm
    list_display = [
        "short_id",
        "status",
        "created_at",
        "source",
        "requested_by",
        "done_at",
        "leads_erased",
        "deliveries_scrubbed",
        "logs_scrubbed",
    ]
    list_filter = ["status", "source", "created_at"]
    search_fields = ["=id", "requested_by"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "status",
        "source",
        "requested_by",
        "created_by",
        "created_at",
        "started_at",
        "done_at",
        "leads_erased",
        "deliveries_scrubbed",
        "logs_scrubbed",
        "error",
    ]
    actions = ["process_now"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("phone", "email", "requested_by")
        return tuple(self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else list(self.readonly_fields)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of a request is evidence of compliance

    @admin.display(description="id")
    def short_id(self, obj: DeletionRequest) -> str:
        return str(obj.pk)[:8]

    def save_model(
        self, request: HttpRequest, obj: DeletionRequest, form: Any, change: bool
    ) -> None:
        filed = file_deletion_request(
            phone=form.cleaned_data.get("phone") or None,
            email=form.cleaned_data.get("email") or None,
            source=SuppressionSource.ADMIN,
            requested_by=form.cleaned_data.get("requested_by") or _who(request),
            user=request.user,
        )
        obj.pk = filed.pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # nothing related: the request was filed by the service

    @admin.action(description="Process the selected requests now", permissions=["change"])
    def process_now(self, request: HttpRequest, queryset: QuerySet[DeletionRequest]) -> None:
        waiting = queryset.filter(status__in=(DeletionStatus.RECEIVED, DeletionStatus.FAILED))
        done = 0
        for item in waiting:
            try:
                process_deletion(item.pk)
                done += 1
            except Exception as exc:
                self.message_user(request, f"{str(item.pk)[:8]} failed: {exc}", messages.ERROR)
        self.message_user(request, f"Processed {done} request(s).", messages.SUCCESS)
