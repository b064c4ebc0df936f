from __future__ import annotations

from django.urls import path

from . import compliance, views

urlpatterns = [
    path("returns", views.ReturnsView.as_view(), name="api-returns"),
    path("buyer/leads", views.BoughtLeadsView.as_view(), name="api-buyer-leads"),
    path("suppressions", compliance.SuppressionsView.as_view(), name="api-suppressions"),
    path("privacy/deletions", compliance.DeletionsView.as_view(), name="api-deletions"),
    path(
        "privacy/deletions/<str:request_id>",
        compliance.DeletionDetailView.as_view(),
        name="api-deletion-detail",
    ),
]
