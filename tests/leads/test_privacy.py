"""Key rotation, retention and deletion requests keep money rows and drop personal data."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from leads.models import Lead
from plumbing.pii import email_hash, phone_hash
from tests.factories import make_publisher, make_vertical

pytestmark = pytest.mark.django_db


def make_lead(**fields: object) -> Lead:
    vertical = make_vertical()
    publisher, _ = make_publisher()
    return Lead.objects.create(
        vertical=vertical,
        publisher=publisher,
        status="sold",
        pii={"email": "ann.lee@example.com", "phone": "+12145550143"},
        phone_hash=phone_hash("+12145550143"),
        email_hash=email_hash("ann.lee@example.com"),
        **fields,
    )


def raw_pii(lead: Lead) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pii FROM leads_lead")
        return cursor.fetchone()[0]


def test_rotation_re_encrypts_under_the_new_key_so_the_old_one_can_go(settings: object) -> None:
    lead = make_lead()
    old_key = settings.PII_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.PII_KEYS = [new_key, old_key]

    call_command("rotate_pii_keys", stdout=StringIO())

    token = raw_pii(lead)
    assert Fernet(new_key.encode()).decrypt(token.encode())
    settings.PII_KEYS = [new_key]
    assert Lead.objects.get().pii["email"] == "ann.lee@example.com"


def test_a_deletion_request_erases_the_person_and_keeps_the_sale() -> None:
    lead = make_lead(price="20.00", payout="16.00")

    call_command("erase_person", phone="(214) 555-0143", stdout=StringIO())

    lead.refresh_from_db()
    assert lead.pii == {} and lead.phone_hash == "" and lead.pii_erased_at is not None
    assert str(lead.price) == "20.0000"


def test_retention_purges_only_old_leads(settings: object) -> None:
    lead = make_lead()
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - timedelta(days=400))

    call_command("erase_person", expired=True, stdout=StringIO())

    assert Lead.objects.get().pii == {}
