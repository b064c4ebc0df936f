from __future__ import annotations

from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads and transactions"

    def ready(self) -> None:
        # Imported here, not at the top: an app's models load only after apps are ready.
        from buyers.circuits import register_call_counter
        from buyers.console_checks import register_pre_check
        from exchange.inbound import register_writer

        from .calllog import count_recent_calls
        from .console_checks import person_checks
        from .recorder import record_inbound

        register_call_counter(count_recent_calls)
        register_writer(record_inbound)
        register_pre_check(person_checks)
