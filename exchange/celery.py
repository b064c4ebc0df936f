"""The Celery application: ``celery -A exchange worker`` / ``celery -A exchange beat``."""

from __future__ import annotations

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# ``filesystem://`` (the embedded default) uses kombu's transport with atomic writes.
TRANSPORT_ALIASES["filesystem"] = "plumbing.embedded_broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")

app = Celery("exchange")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
