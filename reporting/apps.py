from __future__ import annotations

from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = "Reporting"

    def ready(self) -> None:
        from django.contrib import admin
        from django.db.models.signals import post_save

        from leads import recorder
        from leads.models import LeadEvent, TransactionLog

        from . import alert_config, metrics
        from .alert_models import Alert

        # The admin's "View site" opens the dashboard: the exchange has no public site.
        admin.site.site_url = "/reports/"
        # /metrics counts what lower layers write, registered here so they import nothing.
        if metrics.count_batch not in recorder.written:
            recorder.written.append(metrics.count_batch)
        post_save.connect(metrics.on_saved, sender=TransactionLog, dispatch_uid="metrics-calls")
        post_save.connect(metrics.on_saved, sender=LeadEvent, dispatch_uid="metrics-events")
        post_save.connect(metrics.on_alert, sender=Alert, dispatch_uid="metrics-alerts")
        # Alert rules as code: the config file's `alerts:` section.
        alert_config.register_section()
