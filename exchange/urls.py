from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from exchange.api.errors import api_not_found
from exchange.site_views import favicon

urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("reports/", include("reporting.finance_urls")),
    path("reports/", include("reporting.urls")),
    path("metrics", include("reporting.metrics_urls")),
    path("api/v1/", include("exchange.api.urls")),
    path("api/v1/", include("leads.api.urls")),
    path("api/v1/", include("reporting.api.urls")),
    # Last: a JSON 404 (not Django's HTML page) for any other /api/v1/ URL, DEBUG or not.
    re_path(r"^api/v1/", api_not_found),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from a URL, not inline: the
    # Content-Security-Policy allows no inline script (nor style: templates/api_docs.html).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api_docs.html"),
        name="api-docs",
    ),
]

handler404 = "exchange.api.errors.page_not_found"
handler500 = "exchange.api.errors.server_error"
