"""``/metrics`` (included by the project's urls by name, so it imports no reporting)."""

from __future__ import annotations

from django.urls import path

from .metrics_views import scrape

urlpatterns = [path("", scrape, name="metrics")]
