from __future__ import annotations

from django.apps import AppConfig


class BuyersConfig(AppConfig):
    name = "buyers"
    verbose_name = "Buyers and campaigns"
