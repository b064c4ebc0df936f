from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


class ExchangeConfig(AppConfig):
    default = True  # this module also holds the admin's config, named in INSTALLED_APPS
    name = "exchange"
    verbose_name = "Exchange"

    def ready(self) -> None:
        # Here, not at the top: signal receivers import models, which load only once the
        # app registry is ready.
        import plumbing.history  # noqa: F401  (attributes history rows to config imports)
        from buyers.console_checks import register_pre_check

        from . import signals  # noqa: F401  (config-cache invalidation)
        from .console_checks import auction_checks
        from .roles import sync_roles_after_migrate

        # Roles get permissions that later migrations (of any app) create.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="switchyard-sync-roles")
        # The test console asks the auction itself whether a sample lead would get in.
        register_pre_check(auction_checks)


class SwitchyardAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` whose default site asks for the second factor."""

    default = False

    default_site = "exchange.admin_site.SwitchyardAdminSite"
