from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal as D

import orjson
import pytest

from buyers.formats import decode_body, encode_body, form_pairs
from buyers.mapping import compile_mapping

# --- JSON -----------------------------------------------------------------------------------


def test_json_bodies_carry_money_as_decimal_strings_and_dates_in_iso_form() -> None:
    payload = {
        "bid": D("12.50"),
        "dob": date(1980, 7, 4),
        "at": datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        "tcpa": True,
        "contact": {"zip": "01234"},
    }
    body, content_type = encode_body(payload, "json")
    assert content_type == "application/json"
    assert orjson.loads(body) == {
        "bid": "12.50",
        "dob": "1980-07-04",
        "at": "2024-03-01T09:30:00+00:00",
        "tcpa": True,
        "contact": {"zip": "01234"},
    }


# --- XML ------------------------------------------------------------------------------------


def test_the_summit_post_body_is_the_xml_the_buyer_expects() -> None:
    rules = [
        {"to": "lead/ref", "from": "bid.reference"},
        {"to": "lead/name", "template": "{first_name} {last_name}"},
        {"to": "lead/phone", "from": "phone", "transforms": ["digits"]},
    ]
    lead = {"first_name": "Ann", "last_name": "Lee", "phone": "214-555-0101", "bid.reference": "R1"}
    body, content_type = encode_body(compile_mapping(rules)(lead), "xml")
    assert content_type == "application/xml"
    assert body == (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b"<lead><ref>R1</ref><name>Ann Lee</name><phone>2145550101</phone></lead>"
    )


def test_a_flat_payload_is_wrapped_in_the_root_element() -> None:
    body, _ = encode_body({"zip": "75001", "st": "TX"}, "xml")
    assert body.endswith(b"<lead><zip>75001</zip><st>TX</st></lead>")
    body, _ = encode_body({"zip": "75001"}, "xml", root="request")
    assert body.endswith(b"<request><zip>75001</zip></request>")


def test_a_single_top_level_value_that_is_not_an_object_is_wrapped_too() -> None:
    body, _ = encode_body({"zip": "75001"}, "xml")
    assert ET.fromstring(body).tag == "lead"


def test_xml_nests_objects_repeats_lists_and_writes_booleans_in_lowercase() -> None:
    payload = {
        "request": {
            "contact": {"email": "a@b.co", "phones": ["2145550101", "2145550102"]},
            "vehicles": [{"make": "Ford"}, {"make": "Kia"}],
            "tcpa": True,
            "price": D("4.50"),
            "note": None,
        }
    }
    root = ET.fromstring(encode_body(payload, "xml")[0])
    assert root.tag == "request"
    assert [p.text for p in root.findall("contact/phones")] == ["2145550101", "2145550102"]
    assert [m.text for m in root.findall("vehicles/make")] == ["Ford", "Kia"]
    assert root.findtext("tcpa") == "true"
    assert root.findtext("price") == "4.50"
    assert root.find("note") is not None and root.findtext("note") == ""


def test_xml_text_is_escaped_so_the_body_still_parses() -> None:
    tricky = 'O\'Neil & Sons <b>"Co"</b> ]]>'
    body, _ = encode_body({"name": tricky}, "xml")
    assert b"&amp;" in body and b"&lt;b&gt;" in body
    assert ET.fromstring(body).findtext("name") == tricky


def test_xml_drops_control_characters_that_xml_cannot_carry() -> None:
    body, _ = encode_body({"note": "bell\x07 and tab\t"}, "xml")
    assert ET.fromstring(body).findtext("note") == "bell and tab\t"


@pytest.mark.parametrize("key", ["zip code", "1st", "a<b", ""])
def test_it_refuses_a_key_that_cannot_be_an_xml_element(key: str) -> None:
    with pytest.raises(ValueError, match="XML element name"):
        encode_body({key: "x"}, "xml")


# --- form -----------------------------------------------------------------------------------


def test_form_bodies_flatten_nested_keys_with_dots() -> None:
    payload = {"contact": {"email": "a+b@c.co", "name": "Ann Lee"}, "tcpa": False, "bid": D("2")}
    body, content_type = encode_body(payload, "form")
    assert content_type == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qsl(body.decode()) == [
        ("contact.email", "a+b@c.co"),
        ("contact.name", "Ann Lee"),
        ("tcpa", "false"),
        ("bid", "2"),
    ]


def test_form_pairs_repeat_a_key_for_each_list_item() -> None:
    assert form_pairs({"tags": ["a", "b"], "empty": None}) == [
        ("tags", "a"),
        ("tags", "b"),
        ("empty", ""),
    ]


def test_it_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown body format 'yaml'"):
        encode_body({}, "yaml")


# --- decoding -------------------------------------------------------------------------------


def test_it_decodes_json_by_content_type() -> None:
    assert decode_body(b'{"bid": 12.5}', "application/json; charset=utf-8") == (
        "json",
        {"bid": 12.5},
    )


def test_it_decodes_xml_by_content_type() -> None:
    kind, root = decode_body(b"<response><status>ok</status></response>", "text/xml")
    assert kind == "xml"
    assert root.findtext("status") == "ok"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b" [1, 2]", "json"),
        (b'\xef\xbb\xbf{"a": 1}', "json"),
        (b"<r><a>1</a></r>", "xml"),
        (b"ACCEPTED|12.50|R1", "text"),
        (b"<html><body>Bad gateway<br></body></html>", "text"),
        (b"{not json", "text"),
        (b"", "text"),
    ],
)
def test_without_a_telling_content_type_it_sniffs_and_falls_back_to_text(
    body: bytes, kind: str
) -> None:
    assert decode_body(body, "text/plain")[0] == kind
    assert decode_body(body, "")[0] == kind


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"OK", "application/json"),
        (b"", "application/json"),
        (b"<open>", "application/xml"),
        (b"accepted", "text/xml"),
    ],
)
def test_it_raises_for_a_body_that_claims_json_or_xml_and_is_not(
    body: bytes, content_type: str
) -> None:
    with pytest.raises(ValueError):
        decode_body(body, content_type)


def test_it_refuses_xml_with_a_dtd_so_no_entity_is_ever_expanded() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(ValueError, match="DOCTYPE"):
        decode_body(body, "application/xml")


def test_it_drops_xml_namespaces_so_paths_stay_plain() -> None:
    body = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:b="urn:b">'
        b'<s:Body><b:Result b:code="7">ok</b:Result></s:Body></s:Envelope>'
    )
    _, root = decode_body(body, "text/xml")
    assert root.tag == "Envelope"
    assert root.find("Body/Result").get("code") == "7"


def test_text_is_decoded_in_the_charset_the_content_type_names() -> None:
    assert decode_body("Déjà vu".encode("latin-1"), "text/plain; charset=ISO-8859-1") == (
        "text",
        "Déjà vu",
    )
    assert decode_body(b"ok", "text/plain; charset=klingon") == ("text", "ok")
