"""Reporting's Celery tasks: load, call a service, nothing else."""

from __future__ import annotations

from celery import shared_task

from . import alerts, quality, rollups


@shared_task(name="reporting.tasks.refresh_rollups", ignore_result=True)
def refresh_rollups() -> None:
    rollups.refresh()


@shared_task(name="reporting.tasks.refresh_quality", ignore_result=True)
def refresh_quality() -> None:
    """Campaigns' quality counts for expected_revenue routing (``reporting.quality``)."""
    quality.refresh_quality()


@shared_task(name="reporting.tasks.check_alerts", ignore_result=True)
def check_alerts() -> None:
    """Raise what needs raising; send each new alert (and any whose task was lost)."""
    for alert_id in [*alerts.check(), *alerts.unsent()]:
        send_alert.delay(alert_id)


@shared_task(name="reporting.tasks.send_alert", acks_late=True, ignore_result=True)
def send_alert(alert_id: int) -> None:
    alerts.deliver(alert_id)
