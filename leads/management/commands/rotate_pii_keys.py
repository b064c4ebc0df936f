from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from leads.privacy import rotate_pii_keys


class Command(BaseCommand):
    help = "Re-encrypt all personal data under the newest key in PII_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"re-encrypted {rotate_pii_keys()} lead(s) under the newest key")
