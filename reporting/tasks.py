"""Reporting's Celery tasks: load, call a service, nothing else."""

from __future__ import annotations

from celery import shared_task

from . import rollups


@shared_task(name="reporting.tasks.refresh_rollups", ignore_result=True)
def refresh_rollups() -> None:
    rollups.refresh()
