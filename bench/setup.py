"""Configure the exchange for the bench: one vertical, one publisher with a fresh live
key, and one buyer with one campaign per simulated buyer of the scenario.

Idempotent (every slug starts with ``bench``), so it can run against a PostgreSQL
database that already holds other data; the bench vertical keeps its campaigns apart.
Run with ``python -m bench.setup --fleet http://127.0.0.1:N`` after ``migrate``, with
the exchange's environment; it prints ``{"key": "sy_live_…"}``.
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal

import orjson

from .scenario import FLEET, POST_TIMEOUT_MS, VERTICAL_SLUG, BuyerSpec

PING_RESPONSE = {
    "accepted": {"path": "accepted", "equals": ["true"]},
    "price": {"path": "price"},
    "reference": {"path": "bid_id"},
}
POST_RESPONSE = {
    "accepted": {"path": "accepted", "equals": ["true"]},
    "reference": {"path": "lead_ref"},
    "reason": {"path": "reason"},
}
# The fleet finds the lead by its id, to line its arrival up with the publisher's post.
POST_MAPPING = [
    {"to": "lead_id", "from": "lead.id"},
    {"to": "zip", "from": "zip"},
    {"to": "first_name", "from": "first_name"},
    {"to": "last_name", "from": "last_name"},
    {"to": "email", "from": "email"},
    {"to": "phone", "from": "phone"},
]


def configure(
    fleet_url: str, fleet: tuple[BuyerSpec, ...] = FLEET, vertical_slug: str = VERTICAL_SLUG
) -> str:
    """Create or refresh the bench configuration (one vertical, its campaigns named
    ``<vertical>-<buyer>``); returns a new live publisher key."""
    from django.db import transaction

    from buyers.models import Buyer, Campaign, Endpoint
    from exchange.models import ApiKey, Publisher, Vertical
    from exchange.services import create_api_key, revoke_api_keys

    base = fleet_url.rstrip("/")
    with transaction.atomic():
        vertical, _ = Vertical.objects.update_or_create(
            slug=vertical_slug,
            defaults={"name": vertical_slug.title(), "routing": "auction", "is_active": True},
        )
        # The callback secret is encrypted with the PII keys of whichever run created
        # the row; left unloaded, a rerun with fresh keys never needs to decrypt it.
        publisher, _ = Publisher.objects.defer("callback_secret").update_or_create(
            slug="bench-publisher",
            defaults={
                "name": "Bench publisher",
                "is_active": True,
                "payout_percent": Decimal("80.00"),
                "floor": Decimal("0.00"),
                "rate_limit": "",
                "allowed_ips": [],
            },
        )
        revoke_api_keys(ApiKey.objects.filter(publisher=publisher, name="bench"))
        _, key = create_api_key(kind="live", name="bench", publisher=publisher)
        for spec in fleet:
            buyer, _ = Buyer.objects.update_or_create(
                slug=f"{vertical_slug}-{spec.name}", defaults={"name": f"Bench {spec.name}"}
            )
            campaign, _ = Campaign.objects.update_or_create(
                slug=f"{vertical_slug}-{spec.name}",
                defaults={
                    "buyer": buyer,
                    "vertical": vertical,
                    "name": f"Bench {spec.name}",
                    "is_active": True,
                    "paused_reason": "",
                    "pricing_model": "dynamic",
                    "min_bid": Decimal("0"),
                    "filters": [],
                    "schedule": {},
                    # The hung buyer times out on every ping: no auto-pause may hide it.
                    "max_timeout_rate": None,
                    "max_p95_latency_ms": None,
                },
            )
            Endpoint.objects.update_or_create(
                campaign=campaign,
                kind="ping",
                defaults={
                    "url": f"{base}/{spec.name}/ping",
                    "format": "json",
                    "timeout_ms": spec.timeout_ms,
                    "mapping": [],
                    "response": PING_RESPONSE,
                },
            )
            Endpoint.objects.update_or_create(
                campaign=campaign,
                kind="post",
                defaults={
                    "url": f"{base}/{spec.name}/post",
                    "format": "json",
                    "timeout_ms": POST_TIMEOUT_MS,
                    "mapping": POST_MAPPING,
                    "response": POST_RESPONSE,
                },
            )
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fleet", required=True, help="base URL of the buyer fleet")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
    import django

    django.setup()
    sys.stdout.write(orjson.dumps({"key": configure(args.fleet)}).decode() + "\n")


if __name__ == "__main__":
    main()
