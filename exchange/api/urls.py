from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("ping", views.PingView.as_view(), name="api-ping"),
    path("post", views.PostView.as_view(), name="api-post"),
    path("leads", views.LeadsView.as_view(), name="api-leads"),
    path("leads/<str:lead_id>", views.LeadDetailView.as_view(), name="api-lead-detail"),
    path("health", views.HealthView.as_view(), name="api-health"),
]
