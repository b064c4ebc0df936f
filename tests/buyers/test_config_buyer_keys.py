"""Buyer keys in config as code: ``keys: [{name, key}]`` under buyers (SPEC §9)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exchange.configfile import ConfigFileError, export_config, import_config
from exchange.models import ApiKey, hash_key

pytestmark = pytest.mark.django_db
KEY = "sy_buyer_summit_example_key_123456"
FILE = f"""
buyers:
  - slug: summit
    name: Summit Insurance
    keys: [{{name: returns-bot, key: {KEY}}}]
"""


def test_a_buyer_key_from_the_file_authenticates_the_buyer_api_once(api: Any) -> None:
    import_config(FILE)
    import_config(FILE)

    key = ApiKey.objects.get(key_hash=hash_key(KEY))
    assert (key.kind, key.name, key.buyer.slug) == ("buyer", "returns-bot", "summit")
    answer = api.get("/api/v1/buyer/leads", HTTP_AUTHORIZATION=f"Bearer {KEY}")
    assert answer.status_code == 200


def test_a_buyer_key_is_exported_by_name_and_prefix_never_in_full() -> None:
    import_config(FILE)
    exported = export_config().text

    assert KEY not in exported
    buyer = yaml.safe_load(exported)["buyers"][0]
    assert buyer["keys"] == [{"name": "returns-bot", "prefix": KEY[:16]}]
    assert import_config(exported).warnings == []  # the key is here: nothing to report


def test_a_publisher_key_under_a_buyer_is_refused() -> None:
    wrong = FILE.replace(KEY, "sy_live_summit_example_key_123456")

    with pytest.raises(ConfigFileError) as refused:
        import_config(wrong)

    assert refused.value.problems == [
        "buyers[0].keys[0].key: a buyer key looks like sy_buyer_… with 16+ more characters"
    ]
