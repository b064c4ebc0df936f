from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("returns", views.ReturnsView.as_view(), name="api-returns"),
    path("buyer/leads", views.BoughtLeadsView.as_view(), name="api-buyer-leads"),
]
