from __future__ import annotations

from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "exchange"
    verbose_name = "Exchange"

    def ready(self) -> None:
        # Here, not at the top: signal receivers import models, which load only once the
        # app registry is ready.
        from . import signals  # noqa: F401  (config-cache invalidation)
