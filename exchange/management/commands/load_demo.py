"""Load the demo configuration (``demo/config.yaml``, buyers served by ``manage.py
simulate_buyers``) through the config-file importer, and the demo admin user.
Idempotent: a second run changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from exchange.configfile import ConfigFileError, import_config
from exchange.models import ApiKey, Vertical, hash_key

DEMO_LIVE_KEY = "sy_live_demo_acme_0123456789abcdef"
DEMO_TEST_KEY = "sy_test_demo_acme_0123456789abcdef"
DEMO_ADMIN = ("admin", "switchyard-demo")
DEMO_VERTICAL = "auto-insurance"  # the one rundemo's curl lines use

DEMO_FILE = Path(settings.BASE_DIR) / "demo" / "config.yaml"
# The simulator address the demo file is written for.
DEMO_SIMULATOR_URL = "http://127.0.0.1:8001"


def demo_config_text() -> str:
    """The demo file, its buyer URLs pointed at this installation's simulator."""
    text = DEMO_FILE.read_text(encoding="utf-8")
    simulator = settings.SWITCHYARD["SIMULATOR_URL"].rstrip("/")
    return text.replace(f"{DEMO_SIMULATOR_URL}/", f"{simulator}/")


class Command(BaseCommand):
    help = "Create the demo configuration and admin user (for make run)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("The demo uses public keys and passwords: run it with DEBUG on.")
        user_model = get_user_model()
        if not user_model.objects.filter(username=DEMO_ADMIN[0]).exists():
            user_model.objects.create_superuser(DEMO_ADMIN[0], "admin@example.com", DEMO_ADMIN[1])
        try:
            result = import_config(demo_config_text())
        except ConfigFileError as exc:
            raise CommandError(f"{DEMO_FILE} was refused:\n" + "\n".join(exc.problems)) from exc
        for key in (DEMO_LIVE_KEY, DEMO_TEST_KEY):
            # rundemo prints these keys: the file must still hold them.
            if not ApiKey.objects.active().filter(key_hash=hash_key(key)).exists():
                raise CommandError(f"{DEMO_FILE} no longer creates the demo key {key[:16]}…")
        if not Vertical.objects.filter(slug=DEMO_VERTICAL, is_active=True).exists():
            raise CommandError(f"{DEMO_FILE} no longer has the vertical {DEMO_VERTICAL}")
        self.stdout.write(result.report(), ending="")
        self.stdout.write(self.style.SUCCESS("demo configuration loaded"))
