from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leads.privacy import erase_person, purge_expired_pii


class Command(BaseCommand):
    help = "Erase personal data: one person's (--phone/--email) or all past retention (--expired)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--phone", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--expired", action="store_true", help="purge past PII_RETENTION_DAYS")

    def handle(self, *args: Any, phone: str, email: str, expired: bool, **options: Any) -> None:
        if expired:
            self.stdout.write(f"erased personal data of {purge_expired_pii()} lead(s)")
            return
        if not phone and not email:
            raise CommandError("give --phone and/or --email, or --expired")
        self.stdout.write(
            f"erased personal data of {erase_person(phone=phone, email=email)} lead(s)"
        )
