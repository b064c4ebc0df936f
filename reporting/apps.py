from __future__ import annotations

from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = "Reporting"

    def ready(self) -> None:
        from django.contrib import admin

        # The admin's "View site" opens the dashboard: the exchange has no public site.
        admin.site.site_url = "/reports/"
