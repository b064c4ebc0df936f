from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
application = get_asgi_application()

from django.db import connections  # noqa: E402

from exchange.api.ratelimit import ensure_shared_cache  # noqa: E402  (needs the apps loaded)

ensure_shared_cache()
connections.close_all()  # not carried into the processes a server may fork from here
