from __future__ import annotations

from django.urls import path

from . import dashboard_views

app_name = "reporting"

urlpatterns = [
    path("", dashboard_views.dashboard, name="dashboard"),
]
