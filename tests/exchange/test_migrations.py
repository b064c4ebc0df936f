"""Every model change ships with its migration."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_models_and_their_migrations_agree() -> None:
    # Exits with status 1 when a model changed without a migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
