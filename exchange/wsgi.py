"""The WSGI entry point: ``granian --interface wsgi exchange.wsgi:application`` (or
gunicorn's ``exchange.wsgi:application``)."""

from __future__ import annotations

import gc
import os
import sys

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
application = get_wsgi_application()

from django.db import connections  # noqa: E402

from exchange.api.ratelimit import ensure_shared_cache  # noqa: E402  (needs the apps loaded)

ensure_shared_cache()
connections.close_all()  # not carried into the processes a server may fork from here

# The ZIP data set (zip/state agreement, zip_radius) is read now, not by the first ping.
from plumbing import zipdata  # noqa: E402

zipdata.index()

# Request threads hand their fan-out to the transport loop's thread and wait for it.
# Python lets a busy thread keep the GIL for 5 ms before a waiting one may run; a
# shorter interval lets a finished fan-out answer at once.
sys.setswitchinterval(settings.GIL_SWITCH_INTERVAL_MS / 1000)

# What is loaded by now lives as long as the process: keep the cyclic garbage collector
# from scanning it again on every full collection, a pause that lands in ping latency.
gc.freeze()
