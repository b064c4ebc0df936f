from __future__ import annotations

from django.urls import path

from . import buyer, compliance, dispositions, publisher

urlpatterns = [
    # The publisher API.
    path("ping", publisher.PingView.as_view(), name="api-ping"),
    path("post", publisher.PostView.as_view(), name="api-post"),
    path("leads", publisher.LeadsView.as_view(), name="api-leads"),
    path("leads/<str:lead_id>", publisher.LeadDetailView.as_view(), name="api-lead-detail"),
    # The buyer API.
    path("returns", buyer.ReturnsView.as_view(), name="api-returns"),
    path("buyer/leads", buyer.BoughtLeadsView.as_view(), name="api-buyer-leads"),
    path("buyer/dispositions", dispositions.DispositionsView.as_view(), name="api-dispositions"),
    path("postback/<slug:campaign>", dispositions.PostbackView.as_view(), name="api-postback"),
    # Compliance (publisher and buyer keys).
    path("suppressions", compliance.SuppressionsView.as_view(), name="api-suppressions"),
    path("privacy/deletions", compliance.DeletionsView.as_view(), name="api-deletions"),
    path(
        "privacy/deletions/<str:request_id>",
        compliance.DeletionDetailView.as_view(),
        name="api-deletion-detail",
    ),
]
