"""The three staff roles and what each may do: the one registry of group permissions.

``ROLE_PERMISSIONS`` maps a group name to ``"app_label.codename"`` strings; a codename
ending in ``*`` means every permission of that app starting with what precedes it
(``"leads.view_*"``: view every model of ``leads``, including ones added later).
``sync_roles`` makes each group's permissions exactly the registry's. A data migration
runs it, and so does every ``migrate`` (post_migrate), so a permission another app's
later migration creates (``reporting.close_period``...) is granted as soon as it exists;
one that does not exist yet is skipped without a word.

Superusers are in no group: they pass every check. Revealing a lead's personal data
(``leads.reveal_pii``) is in no role on purpose: it is granted to named people.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q

ACCOUNT_MANAGERS = "Account managers"
FINANCE = "Finance"
READ_ONLY = "Read-only"

# The apps whose screens staff read; every role views all of them.
PRODUCT_APPS = ("exchange", "buyers", "leads", "reporting")
VIEW_EVERYTHING = [f"{app}.view_*" for app in PRODUCT_APPS]

# What an account manager configures: verticals, publishers, buyers, campaigns and all
# their parts. Change history rows are kept by django-simple-history, not edited.
CONFIG_MODELS = {
    "exchange": ["vertical", "verticalfield", "publisher"],
    "buyers": ["buyer", "credential", "campaign", "endpoint", "cap"],
}
CONFIGURE = [
    f"{app}.{verb}_{model}"
    for app, models in CONFIG_MODELS.items()
    for model in models
    for verb in ("add", "change", "delete")
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    ACCOUNT_MANAGERS: [
        *VIEW_EVERYTHING,
        *CONFIGURE,
        "exchange.add_apikey",  # mint publisher and buyer keys (shown once)
        "exchange.change_apikey",  # revoke keys
        "buyers.change_circuitstate",  # close a circuit by hand
        "leads.change_delivery",  # replay failed leads
        # Compliance work (docs/compliance.md): suppression entries (one by one, or a CSV
        # upload) and people's deletion requests, filed and processed.
        "leads.add_suppression",
        "leads.delete_suppression",
        "leads.add_deletionrequest",
        "leads.change_deletionrequest",
        "reporting.view_dashboard",
    ],
    FINANCE: [
        *VIEW_EVERYTHING,
        "leads.add_ledgerentry",  # adjustments
        "leads.add_return",
        "reporting.view_statements",
        "reporting.close_period",
        "reporting.issue_invoice",
        "reporting.view_dashboard",
    ],
    READ_ONLY: [*VIEW_EVERYTHING],
}


def _matching(wanted: list[str]) -> Q:
    query = Q(pk__in=[])
    for entry in wanted:
        app_label, _, codename = entry.partition(".")
        if codename.endswith("*"):
            query |= Q(content_type__app_label=app_label, codename__startswith=codename[:-1])
        else:
            query |= Q(content_type__app_label=app_label, codename=codename)
    return query


def sync_roles(apps: Any = global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the role groups and set their permissions to the registry's (those that
    exist). ``apps`` is a migration's app registry when a migration calls it."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, wanted in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.using(using).get_or_create(name=name)
        permissions = permission_model.objects.using(using).filter(_matching(wanted))
        group.permissions.set(list(permissions.values_list("pk", flat=True)))


def create_all_permissions(apps: Any, using: str) -> None:
    """Content types and default permissions for every model in ``apps``, which Django
    otherwise creates only after the whole ``migrate`` (post_migrate)."""
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    for app_config in apps.get_app_configs():
        # Migration-state app configs have no models module, which both functions
        # read as "no models here".
        app_config.models_module = True
        create_contenttypes(app_config, verbosity=0, using=using, apps=apps)
        create_permissions(app_config, verbosity=0, using=using, apps=apps)
        app_config.models_module = None


def sync_roles_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """post_migrate receiver: runs once per ``migrate`` (or test flush), after the last
    app's permissions were created."""
    with_models = [c for c in global_apps.get_app_configs() if c.models_module is not None]
    if with_models and sender is with_models[-1]:
        sync_roles(using=using)
