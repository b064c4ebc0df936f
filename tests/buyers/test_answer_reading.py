"""A buyer's answer is read whole up to the 1 MiB cap, however it arrives; XML is
checked for a DOCTYPE as decoded, from buyers and from publishers alike."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from werkzeug import Response

from exchange.models import InboundLog
from leads.models import Bid, Lead
from tests.factories import make_campaign, make_publisher, make_vertical, ping

pytestmark = pytest.mark.django_db

DTD_XML = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY e "1">]>'


def streamed(body: bytes, pieces: int) -> Any:
    """An answer sent in ``pieces`` chunks, a moment apart, as a slow network delivers."""

    def handler(request: Any) -> Response:
        size = len(body) // pieces + 1

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), size):
                yield body[start : start + size]
                time.sleep(0.02)

        return Response(chunks(), content_type="application/json", direct_passthrough=True)

    return handler


def buyer(server: Any, handler: Any, timeout_ms: int = 3000) -> str:
    vertical = make_vertical()
    _, key = make_publisher(floor=D("1.00"))
    server.expect_request("/ping").respond_with_handler(handler)
    make_campaign(
        vertical,
        "b",
        ping_url=server.url_for("/ping"),
        post_url="https://buyer.example/post",
        timeout_ms=timeout_ms,
    )
    return key


def test_a_150_kb_answer_arriving_in_pieces_is_read_whole(api: Any, buyer_server: Any) -> None:
    answer = {"notes": "x" * 150_000, "result": "accepted", "bid": "12.00", "bid_id": "BIG"}
    key = buyer(buyer_server, streamed(json.dumps(answer).encode(), pieces=6))

    pinged = ping(api, key)

    assert pinged.json()["price"] == "9.60"  # 80% of 12.00
    assert Bid.objects.get().reference == "BIG"


def test_an_answer_over_1_mib_is_a_bad_response(api: Any, buyer_server: Any) -> None:
    answer = {"result": "accepted", "bid": "12.00", "notes": "x" * (1024 * 1024)}
    key = buyer(buyer_server, streamed(json.dumps(answer).encode(), pieces=8))

    pinged = ping(api, key)

    assert pinged.json()["status"] == "rejected"
    bid = Bid.objects.get()
    assert (bid.outcome, bid.price) == ("bad_response", None)
    assert "larger than 1024 KiB" in bid.reason


def test_a_utf16_xml_answer_with_a_doctype_is_a_bad_response(api: Any, buyer_server: Any) -> None:
    body = (DTD_XML + "<r><result>accepted</result><price>&e;2.00</price></r>").encode("utf-16")
    key = buyer(
        buyer_server,
        lambda request: Response(body, content_type="application/xml; charset=utf-16"),
    )

    pinged = ping(api, key)

    assert pinged.json()["status"] == "rejected"
    assert "DOCTYPE" in Bid.objects.get().reason


def test_a_utf16_xml_answer_without_one_is_read(api: Any, buyer_server: Any) -> None:
    xml = '<?xml version="1.0" encoding="UTF-16"?><r><result>accepted</result><bid>4.00</bid></r>'
    body = xml.encode("utf-16")
    key = buyer(
        buyer_server,
        lambda request: Response(body, content_type="application/xml; charset=utf-16"),
    )

    assert ping(api, key).json()["price"] == "3.20"


def publisher_xml(api: Any, key: str, body: bytes) -> Any:
    return api.generic(
        "POST",
        "/api/v1/ping",
        body,
        content_type="application/xml",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def test_a_publishers_utf16_xml_with_a_doctype_is_refused(api: Any) -> None:
    make_vertical()
    _, key = make_publisher()
    body = (DTD_XML + "<lead><vertical>auto-insurance</vertical><zip>&e;</zip></lead>").encode(
        "utf-16"
    )

    answer = publisher_xml(api, key, body)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "malformed"
    assert "DOCTYPE" in answer.json()["error"]["message"]
    assert not Lead.objects.exists()


def test_a_publishers_utf16_xml_without_one_is_taken(api: Any) -> None:
    make_vertical()
    _, key = make_publisher()
    body = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        "<lead><vertical>auto-insurance</vertical><zip>01234</zip><state>TX</state></lead>"
    ).encode("utf-16")

    answer = publisher_xml(api, key, body)

    assert answer.status_code == 200, answer.content
    assert Lead.objects.get().data == {"zip": "01234", "state": "TX"}


def test_a_publishers_utf16_xml_is_logged_as_text_with_its_personal_data_masked(api: Any) -> None:
    make_vertical()
    _, key = make_publisher()
    body = (
        '<?xml version="1.0" encoding="UTF-16"?><lead><vertical>auto-insurance</vertical>'
        "<zip>01234</zip><state>TX</state><email>ann.lee@example.com</email></lead>"
    ).encode("utf-16")

    publisher_xml(api, key, body)

    logged = InboundLog.objects.get().body
    assert "<zip>01234</zip>" in logged
    assert "\x00" not in logged
    assert "ann.lee" not in logged
