"""The staff roles (exchange/roles.py): Account managers, Finance, Read-only."""

from __future__ import annotations

from django.db import migrations


def make_roles(apps, schema_editor):
    from exchange.roles import create_all_permissions, sync_roles

    alias = schema_editor.connection.alias
    create_all_permissions(apps, alias)
    sync_roles(apps, alias)


def remove_roles(apps, schema_editor):
    from exchange.roles import ROLE_PERMISSIONS

    group = apps.get_model("auth", "Group")
    group.objects.using(schema_editor.connection.alias).filter(
        name__in=list(ROLE_PERMISSIONS)
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("exchange", "0003_config_history"),
    ]

    operations = [migrations.RunPython(make_roles, remove_roles)]
