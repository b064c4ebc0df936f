"""What celery beat runs: every entry names a real task, at the promised interval."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from exchange.celery import app
from leads.models import Lead
from tests.factories import make_publisher, make_vertical


@pytest.fixture(scope="module")
def schedule() -> dict[str, Any]:
    app.loader.import_default_modules()  # what the beat and worker processes do at start
    return app.conf.beat_schedule


def test_every_beat_entry_names_a_task_the_workers_know(schedule: dict[str, Any]) -> None:
    unknown = [entry["task"] for entry in schedule.values() if entry["task"] not in app.tasks]

    assert unknown == []


@pytest.mark.parametrize(
    ("task", "every"),
    [
        ("leads.tasks.sweep_deliveries", timedelta(seconds=5)),
        ("leads.tasks.autopause_campaigns", timedelta(seconds=60)),
        ("leads.tasks.purge_expired_pii", timedelta(days=1)),
    ],
)
def test_housekeeping_runs_on_beat(schedule: dict[str, Any], task: str, every: timedelta) -> None:
    assert [e["schedule"] for e in schedule.values() if e["task"] == task] == [every]


@pytest.mark.django_db
def test_the_daily_purge_erases_personal_data_past_retention(
    schedule: dict[str, Any], settings: Any
) -> None:
    settings.PII_RETENTION_DAYS = 30
    vertical = make_vertical()
    publisher, _ = make_publisher()
    old, recent = (
        Lead.objects.create(
            vertical=vertical,
            publisher=publisher,
            status="sold",
            price="20.00",
            pii={"email": "ann.lee@example.com"},
        )
        for _ in range(2)
    )
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    (entry,) = [e for e in schedule.values() if e["task"].endswith("purge_expired_pii")]

    assert app.tasks[entry["task"]].apply().get()["leads_erased"] == 1

    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.pii == {} and old.pii_erased_at is not None
    assert str(old.price) == "20.0000"  # the sale stays on the books
    assert recent.pii == {"email": "ann.lee@example.com"}
