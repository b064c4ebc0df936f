"""E-mail delivery for buyers without an API: the mapped lead through Django's mail
backend, on the same outbox, retries and ledger as HTTP posts."""

from __future__ import annotations

import json
import smtplib
from decimal import Decimal as D
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from buyers.models import Endpoint
from leads.models import Delivery, Lead, LedgerEntry, TransactionLog
from leads.tasks import deliver_lead
from tests.factories import POST_LEAD, direct_post, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db

MAPPING = [
    {"to": "Name", "template": "{first_name} {last_name}"},
    {"to": "Phone", "from": "phone", "transforms": ["digits"]},
    {"to": "ZIP", "from": "zip"},
    {"to": "Lead", "from": "lead.id"},
]


class MailServerDown(BaseEmailBackend):
    """A mail backend whose server does not answer."""

    def send_messages(self, email_messages: Any) -> int:
        raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")


@pytest.fixture
def inbox_buyer() -> str:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    campaign = make_campaign(
        vertical,
        "inbox",
        post_url="mailto:leads@inbox.example, ops@inbox.example",
        pricing_model="fixed",
        fixed_price="15.00",
    )
    Endpoint.objects.filter(campaign=campaign).update(
        format="email", mapping=MAPPING, headers={"Subject": "Auto lead"}, response={}
    )
    return key


def test_an_email_buyer_receives_the_lead_and_the_sale_is_in_the_ledger(
    api: Any, inbox_buyer: str
) -> None:
    answer = direct_post(api, inbox_buyer)

    assert answer.json()["status"] == "sold"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["leads@inbox.example", "ops@inbox.example"]
    assert message.subject == "Auto lead"
    lead_id = answer.json()["lead_id"]
    assert message.body == f"Name: Ann Lee\nPhone: 12145550143\nZIP: 75001\nLead: {lead_id}\n"
    name, content, kind = message.attachments[0]
    assert (name, kind) == ("lead.json", "application/json")
    assert json.loads(content)["Name"] == "Ann Lee"
    assert message.extra_headers["Idempotency-Key"].startswith(lead_id)
    sale = LedgerEntry.objects.get(kind="sale")
    assert (sale.lead_id, sale.charge) == (Lead.objects.get().pk, D("15.0000"))
    logged = TransactionLog.objects.get(kind="post")
    assert (logged.method, logged.outcome) == ("EMAIL", "accepted")
    assert logged.url.startswith("mailto:") and "leads@inbox.example" not in logged.url
    assert "Ann Lee" not in logged.request_body  # personal data masked in the log


def test_a_mail_server_down_is_retried_then_the_lead_is_sold(
    api: Any, inbox_buyer: str, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "tests.leads.test_email_delivery.MailServerDown"
    body = {"vertical": "auto-insurance", "lead": POST_LEAD, "mode": "async"}
    answer = api.post(
        "/api/v1/leads", body, format="json", HTTP_AUTHORIZATION=f"Bearer {inbox_buyer}"
    ).json()
    lead_id = answer["lead_id"]
    delivery = Delivery.objects.get(lead_id=lead_id)
    deliver_lead(lead_id)  # what the worker does with the queued delivery
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_outcome) == ("retry", "transport_error")
    assert not LedgerEntry.objects.exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    deliver_lead(lead_id)

    assert Lead.objects.get(pk=lead_id).status == "sold"
    assert len(mail.outbox) == 1
    assert LedgerEntry.objects.filter(kind="sale", lead_id=lead_id).count() == 1


@pytest.fixture
def manager(client: Any, django_user_model: Any) -> Any:
    client.force_login(django_user_model.objects.create_superuser("al", "al@example.com", "pw"))
    return client


def test_an_email_endpoint_needs_a_mailto_url_and_a_post(api: Any) -> None:
    campaign = make_campaign(make_vertical(), "wrong", post_url="https://buyer.example/post")
    endpoint = Endpoint.objects.get(campaign=campaign)
    endpoint.format = "email"

    with pytest.raises(Exception, match="mailto:address"):
        endpoint.full_clean()
    endpoint.url, endpoint.kind = "mailto:a@b.example", "ping"
    with pytest.raises(Exception, match="E-mail delivery is for posts"):
        endpoint.full_clean()
    endpoint.url, endpoint.kind, endpoint.format = "mailto:not-an-address", "post", "email"
    with pytest.raises(Exception, match="is not an e-mail address"):
        endpoint.full_clean()
