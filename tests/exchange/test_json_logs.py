"""LOG_FORMAT=json: one JSON object per line, carrying the request id, the lead id and
the publisher, with personal data masked."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest

from plumbing.logs import logging_config
from tests.factories import PING_LEAD, make_publisher, make_vertical

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines(monkeypatch: Any) -> Iterator[Any]:
    """Logging as LOG_FORMAT=json and LOG_REQUESTS=1 configure it; the lines written."""
    from plumbing import logs

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buffer = io.StringIO()
    config = logging_config("json", "INFO")
    config["handlers"]["console"]["stream"] = buffer
    logging.config.dictConfig(config)
    original_init = logs.RequestContextMiddleware.__init__

    def init(self: Any, get_response: Any) -> None:
        original_init(self, get_response)
        self.log_requests = True

    monkeypatch.setattr(logs.RequestContextMiddleware, "__init__", init)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.handlers, _ = saved[0], root.setLevel(saved[1])


def test_a_pings_log_lines_carry_its_request_lead_and_publisher(api: Any, json_lines: Any) -> None:
    make_vertical()
    _, key = make_publisher("acme")
    answer = api.post(
        "/api/v1/ping",
        {"vertical": "auto-insurance", "lead": PING_LEAD},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_X_REQUEST_ID="req-42",
    )
    assert answer["X-Request-ID"] == "req-42"
    line = next(r for r in json_lines() if r["logger"] == "switchyard.request")
    assert line["request_id"] == "req-42"
    assert line["publisher"] == "acme"
    assert line["lead_id"] == answer.json()["ping_id"]
    assert line["status"] == 200 and line["path"] == "/api/v1/ping"
    assert {"time", "level", "message"} <= set(line)


def test_personal_data_is_masked_in_json_lines(json_lines: Any) -> None:
    logging.getLogger("leads.delivery").warning(
        "buyer said no for ann.lee@example.com at (214) 555-0143"
    )
    line = json_lines()[-1]
    assert "ann.lee@example.com" not in json.dumps(line)
    assert "555-0143" not in json.dumps(line)
    assert line["level"] == "WARNING" and line["request_id"] == ""


def test_a_request_id_that_is_not_sane_is_replaced(client: Any) -> None:
    answer = client.get("/api/v1/nothing", HTTP_X_REQUEST_ID="<script>" * 20)
    assert answer["X-Request-ID"] != "<script>" * 20
    assert len(answer["X-Request-ID"]) == 32
