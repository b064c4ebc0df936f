from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leads.privacy import erase_person, purge_expired_data
from leads.suppression import SuppressionError


class Command(BaseCommand):
    help = (
        "File a deletion request for one person (--phone/--email) and process it now, or "
        "run the retention purge (--expired)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--phone", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--by", default="", help="who asked (recorded on the request)")
        parser.add_argument(
            "--expired", action="store_true", help="purge past the retention settings"
        )

    def handle(self, *args: Any, phone: str, email: str, by: str, expired: bool, **o: Any) -> None:
        if expired:
            counts = purge_expired_data()
            self.stdout.write(
                f"erased personal data of {counts['leads_erased']} lead(s); deleted "
                f"{counts['inbound_logs_deleted']} inbound and "
                f"{counts['transaction_logs_deleted']} transaction log row(s)"
            )
            return
        if not phone and not email:
            raise CommandError("give --phone and/or --email, or --expired")
        try:
            request = erase_person(phone=phone, email=email, requested_by=by)
        except SuppressionError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"deletion request {request.pk}: {request.status}; erased personal data of "
            f"{request.leads_erased} lead(s), scrubbed {request.deliveries_scrubbed} "
            f"delivery and {request.logs_scrubbed} log row(s); the person is suppressed"
        )
