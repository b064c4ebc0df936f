"""Signals buyers send for the layers above to act on.

``config_changed``: buyers' configuration changed by a queryset update (which sends no
``post_save``), so compiled configuration must be rebuilt. The exchange connects its
configuration cache to it (``exchange.signals``); buyers never import the exchange.
"""

from __future__ import annotations

from django.dispatch import Signal

config_changed = Signal()
