"""The dashboard's filter form: a range, a bucket size and what to narrow to."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from buyers.models import Buyer, Campaign
from exchange.models import Publisher, Vertical

from .dashboard import Scope, day_range

MAX_DAYS = 92


class DashboardFilter(forms.Form):
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    by = forms.ChoiceField(
        label="By", choices=[("", "auto"), ("hour", "hour"), ("day", "day")], required=False
    )
    vertical = forms.ModelChoiceField(Vertical.objects.order_by("name"), required=False)
    publisher = forms.ModelChoiceField(Publisher.objects.order_by("name"), required=False)
    buyer = forms.ModelChoiceField(Buyer.objects.order_by("name"), required=False)
    campaign = forms.ModelChoiceField(
        Campaign.objects.select_related("buyer").order_by("buyer__name", "slug"), required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = timezone.localdate()
        start, end = data.get("start") or today, data.get("end") or data.get("start") or today
        if end < start:
            raise forms.ValidationError("'To' must not be before 'From'.")
        if (end - start) > timedelta(days=MAX_DAYS):
            raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def scope(self) -> Scope:
        data = self.cleaned_data
        start, end = day_range(data["start"], data["end"])
        by = data.get("by") or ("hour" if (data["end"] - data["start"]).days < 2 else "day")
        return Scope(
            start=start,
            end=end,
            by=by,
            vertical=data["vertical"].pk if data.get("vertical") else None,
            publisher=data["publisher"].pk if data.get("publisher") else None,
            buyer=data["buyer"].pk if data.get("buyer") else None,
            campaign=data["campaign"].pk if data.get("campaign") else None,
        )
