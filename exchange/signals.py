"""Configuration changes move the config revision so every process recompiles."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from buyers.signals import config_changed

from .config_cache import mark_config_changed

CONFIG_MODELS = {
    ("exchange", "vertical"),
    ("exchange", "verticalfield"),
    ("exchange", "publisher"),
    ("exchange", "apikey"),
    ("buyers", "buyer"),
    ("buyers", "credential"),
    ("buyers", "campaign"),
    ("buyers", "endpoint"),
    ("buyers", "cap"),
}


def _config_changed(sender: Any, **kwargs: Any) -> None:
    meta = sender._meta
    if (meta.app_label, meta.model_name) in CONFIG_MODELS:
        mark_config_changed()


def _buyers_config_changed(sender: Any, **kwargs: Any) -> None:
    mark_config_changed()


post_save.connect(_config_changed, dispatch_uid="switchyard-config-save")
post_delete.connect(_config_changed, dispatch_uid="switchyard-config-delete")
config_changed.connect(_buyers_config_changed, dispatch_uid="switchyard-buyers-config")
