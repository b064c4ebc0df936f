"""Personal data never sits in the database in plain text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from werkzeug import Response

from leads.models import Lead, TransactionLog
from tests.factories import direct_post, make_campaign, make_publisher, make_vertical

pytestmark = pytest.mark.django_db


def every_stored_text() -> str:
    """All of every table's content, as one string."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_no_phone_or_email_is_stored_in_plain_text(api: Any, buyer_server: Any) -> None:
    vertical = make_vertical()
    _, key = make_publisher()
    buyer_server.expect_request("/b/post").respond_with_handler(
        lambda r: Response(
            json.dumps({"status": "ok", "lead_id": "X", "echo": r.json}),
            content_type="application/json",
        )
    )
    make_campaign(
        vertical,
        "b",
        post_url=buyer_server.url_for("/b/post"),
        pricing_model="fixed",
        fixed_price="9.00",
    )

    answer = direct_post(api, key)
    assert answer.json()["status"] == "sold"

    stored = every_stored_text()
    for secret in ("ann.lee@example.com", "2145550143", "+12145550143", "555-0143"):
        assert secret not in stored, secret
    lead = Lead.objects.get()
    assert lead.pii["email"] == "ann.lee@example.com"  # and yet it can be read back
    call = TransactionLog.objects.get(kind="post")
    assert "***" in call.request_body and "***" in call.response_body
