"""django-filter sets shared by API lists and reports."""

from __future__ import annotations

import django_filters

from .models import Lead


class BoughtLeadFilter(django_filters.FilterSet):
    """A buyer's purchases: ``?sold_after=2026-11-01&sold_before=2026-12-01&status=returned``."""

    sold_after = django_filters.IsoDateTimeFilter(field_name="sold_at", lookup_expr="gte")
    sold_before = django_filters.IsoDateTimeFilter(field_name="sold_at", lookup_expr="lt")
    status = django_filters.ChoiceFilter(choices=[("sold", "sold"), ("returned", "returned")])
    campaign = django_filters.CharFilter(field_name="sold_campaign__slug")

    class Meta:
        model = Lead
        fields = ["sold_after", "sold_before", "status", "campaign"]
