from __future__ import annotations

from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "exchange"
    verbose_name = "Exchange"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (config-cache invalidation)
