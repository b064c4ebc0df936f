"""django-filter sets shared by API lists and reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from .models import Lead


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date and time, given to the database in UTC: PostgreSQL refuses UTC
    offsets past 15:59 (Python allows 23:59), and ``0001-01-01T00:00:00+14:00`` is valid
    ISO text for a moment before the first UTC datetime."""

    def to_python(self, value: Any) -> datetime | None:
        result = super().to_python(value)
        if result is None or result.utcoffset() is None:
            return result
        try:
            return result.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Out of range in UTC.", code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class BoughtLeadFilter(django_filters.FilterSet):
    """A buyer's purchases: ``?sold_after=2026-11-01&sold_before=2026-12-01&status=returned``."""

    sold_after = UtcIsoDateTimeFilter(field_name="sold_at", lookup_expr="gte")
    sold_before = UtcIsoDateTimeFilter(field_name="sold_at", lookup_expr="lt")
    status = django_filters.ChoiceFilter(choices=[("sold", "sold"), ("returned", "returned")])
    campaign = django_filters.CharFilter(field_name="sold_campaign__slug")

    class Meta:
        model = Lead
        fields = ["sold_after", "sold_before", "status", "campaign"]
