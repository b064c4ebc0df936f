"""No lead's personal value, of any length, survives in what is stored of a buyer call:
the transaction log's URL, bodies and error, and the delivery's reason. A property over
random names (one letter and up, accents, apostrophes), body formats and mappings."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyers.calls import log_row, prepare_call
from buyers.mapping import compile_mapping
from buyers.response_rules import Answer
from buyers.transport import OutboundResponse
from plumbing.masking import pii_values, scrub_text

LETTERS = st.characters(categories=["Lu", "Ll"], max_codepoint=0x24F)
NAME = st.builds(
    lambda first, rest, tail: first + rest + tail,
    LETTERS,
    st.text(LETTERS, max_size=10),
    st.sampled_from(["", "", "'s", "-Ann", " Mae"]),
)
MAPPINGS = [
    [{"to": "first", "from": "first_name"}, {"to": "last", "from": "last_name"}],
    [{"to": "contact.name", "template": "{first_name} {last_name}"}],
    [{"to": "who", "template": "{first_name}{last_name}"}],  # glued together
    [
        {"to": "FIRST", "from": "first_name", "transforms": ["upper"]},
        {"to": "last", "from": "last_name", "transforms": ["lower"]},
    ],  # fmt: skip
    [
        {"to": "FirstName", "from": "first_name"},
        {"to": "Phone", "from": "phone", "transforms": ["digits"]},
        {"to": "Email", "from": "email"},
    ],  # fmt: skip
    [
        {"to": "born", "from": "dob", "transforms": [{"date": "%m/%d/%Y"}]},
        {"to": "n", "from": "first_name"},
    ],  # fmt: skip
]


def word_boundary_hit(value: str, text: str) -> bool:
    """``value`` stands in ``text`` as itself: not part of a longer word ("ed" in
    "accepted" is not the name Ed)."""
    if not value.strip():
        return False
    pattern = rf"(?<![^\W_]){re.escape(value)}(?![^\W_])"
    return re.search(pattern, text, re.IGNORECASE) is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=NAME,
    last=NAME,
    body_format=st.sampled_from(["json", "xml", "form"]),
    method=st.sampled_from(["POST", "POST", "GET"]),
    mapping=st.sampled_from(MAPPINGS),
    echo=st.booleans(),
)
def test_no_personal_value_survives_in_a_stored_call_or_reason(
    first: str, last: str, body_format: str, method: str, mapping: list[Any], echo: bool
) -> None:
    pii = {
        "first_name": first,
        "last_name": last,
        "email": "q.x@example.net",
        "phone": "+12145550143",
        "dob": "1984-03-09",
    }
    endpoint = SimpleNamespace(
        kind="post", url="https://buyer.example/post", test_url="", method=method,
        format=body_format, headers={}, credential=None, timeout_ms=1000,
        map_lead=compile_mapping(mapping),
    )  # fmt: skip
    prepared = prepare_call(endpoint, {**pii, "zip": "75001"})
    assert prepared.request is not None, prepared.error
    sent = prepared.request.body.decode() + prepared.request.url
    said = f"duplicate: {first} {last} ({first.upper()}{last}) already sold" if echo else "no"
    response = OutboundResponse(200, (sent if echo else "{}").encode(), "text/plain")
    secrets = pii_values(pii)

    row = log_row(prepared, response, Answer("rejected", reason=said), pii=secrets)
    delivery_reason = scrub_text(said, secrets)  # as leads.attempts stores it

    stored = " ".join([row["url"], row["request_body"], row["response_body"], row["error"]])
    stored += " " + delivery_reason
    for value in (first, last, first.upper(), last.lower(), first + last, "5550143", "1984"):
        assert not word_boundary_hit(value, stored), (value, stored)
    for encoded in (json.dumps(first)[1:-1], first.replace("'", "&apos;")):
        assert not word_boundary_hit(encoded, stored), (encoded, stored)
