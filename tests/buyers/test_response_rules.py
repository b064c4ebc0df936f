from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import orjson
import pytest
import yaml

from buyers.choices import Outcome
from buyers.response_rules import (
    Answer,
    ResponseRulesError,
    compile_response_rules,
    validate_response_rules,
)

# The summit-tx endpoints of SPEC §9, as an admin writes them; stored as JSON.
SUMMIT_TX = json.loads(
    json.dumps(
        yaml.safe_load(
            """
ping:
  response:
    accepted: {path: result, equals: [accepted]}
    price: {path: bid}
    reference: {path: bid_id}
post:
  response:
    accepted: {path: response/status, equals: [ok]}
    reference: {path: response/lead_id}
    reason: {path: response/error}
"""
        )
    )
)
JSON = "application/json"
XML = "application/xml"


def read(rules: Any, body: bytes | dict, status: int = 200, content_type: str = JSON) -> Answer:
    raw = orjson.dumps(body) if isinstance(body, dict) else body
    return compile_response_rules(rules)(status, content_type, raw)


# --- the SPEC example -----------------------------------------------------------------------


def test_the_summit_ping_answer_gives_a_bid_with_price_and_reference() -> None:
    answer = read(
        SUMMIT_TX["ping"]["response"], {"result": "accepted", "bid": 7.25, "bid_id": "B9"}
    )
    assert answer == Answer(Outcome.ACCEPTED, price=D("7.25"), reference="B9", status=200)


def test_the_summit_ping_answer_is_a_pass_when_the_result_is_not_accepted() -> None:
    answer = read(SUMMIT_TX["ping"]["response"], {"result": "rejected", "reason": "no coverage"})
    assert answer.outcome == Outcome.REJECTED
    assert answer.reason == "no coverage"
    assert answer.price is None


def test_the_summit_post_answer_is_read_from_xml() -> None:
    body = b"<response><status>OK</status><lead_id>L-42</lead_id></response>"
    answer = read(SUMMIT_TX["post"]["response"], body, content_type=XML)
    assert (answer.outcome, answer.reference) == (Outcome.ACCEPTED, "L-42")


def test_the_summit_post_rejection_carries_the_buyers_error() -> None:
    body = b"<response><status>error</status><error>Duplicate lead</error></response>"
    answer = read(SUMMIT_TX["post"]["response"], body, content_type="text/xml; charset=utf-8")
    assert (answer.outcome, answer.reason, answer.retryable) == (
        Outcome.REJECTED,
        "Duplicate lead",
        False,
    )


def test_the_summit_rules_validate() -> None:
    assert validate_response_rules(SUMMIT_TX["ping"]["response"]) == []
    assert validate_response_rules(SUMMIT_TX["post"]["response"]) == []


# --- HTTP classes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "retryable"), [(408, True), (429, True), (500, True),
                                                  (503, True), (400, False), (401, False),
                                                  (404, False), (422, False)])  # fmt: skip
def test_http_errors_are_retryable_only_for_408_429_and_5xx(status: int, retryable: bool) -> None:
    answer = read(SUMMIT_TX["ping"]["response"], {"result": "accepted", "bid": 5}, status=status)
    assert answer.outcome == Outcome.HTTP_ERROR
    assert answer.retryable is retryable
    assert answer.status == status
    assert answer.price is None


def test_an_http_error_keeps_the_buyers_reason_when_it_gives_one() -> None:
    answer = read({}, {"reason": "missing zip"}, status=400)
    assert answer.reason == "HTTP 400: missing zip"


def test_an_http_error_with_an_unreadable_body_is_still_an_http_error() -> None:
    answer = read(SUMMIT_TX["post"]["response"], b"<html>oops", status=502, content_type=XML)
    assert (answer.outcome, answer.reason, answer.retryable) == (
        Outcome.HTTP_ERROR,
        "HTTP 502",
        True,
    )


# --- bad responses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{broken", JSON),
        (b"", JSON),
        (b"<response><status>ok</status>", XML),
        (b"Thanks!", "text/plain"),
    ],
)
def test_an_answer_a_path_rule_cannot_read_is_a_bad_response(
    body: bytes, content_type: str
) -> None:
    answer = read(SUMMIT_TX["post"]["response"], body, content_type=content_type)
    assert answer.outcome == Outcome.BAD_RESPONSE
    assert answer.retryable is False
    assert answer.reason


@pytest.mark.parametrize("price", ["abc", "-1.00", "12,50", True, {"amount": 3}, "NaN", "1e3"])
def test_a_price_that_is_not_an_amount_is_a_bad_response(price: Any) -> None:
    answer = read(SUMMIT_TX["ping"]["response"], {"result": "accepted", "bid": price})
    assert answer.outcome == Outcome.BAD_RESPONSE
    assert "price" in answer.reason


def test_a_bad_price_is_reported_even_when_the_buyer_passes() -> None:
    answer = read(SUMMIT_TX["ping"]["response"], {"result": "rejected", "bid": "abc"})
    assert answer.outcome == Outcome.BAD_RESPONSE


@pytest.mark.parametrize(
    ("price", "expected"),
    [(12.35, D("12.35")), (7, D("7")), ("4.50", D("4.50")), (" $3.10 ", D("3.10")), ("", None),
     (None, None)],
)  # fmt: skip
def test_prices_are_read_as_exact_decimals(price: Any, expected: D | None) -> None:
    answer = read(SUMMIT_TX["ping"]["response"], {"result": "accepted", "bid": price})
    assert answer.outcome == Outcome.ACCEPTED
    assert answer.price == expected


def test_a_reference_too_long_to_store_is_a_bad_response() -> None:
    answer = read({}, {"reference": "r" * 201})
    assert answer.outcome == Outcome.BAD_RESPONSE


# --- accepted rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "status", "outcome"),
    [
        ({"status": "200-299"}, 204, Outcome.ACCEPTED),
        ({"status": "200"}, 201, Outcome.REJECTED),
        ({"status": 201}, 201, Outcome.ACCEPTED),
        ({"status": ["200", "202-204"]}, 203, Outcome.ACCEPTED),
        ({"status": ["200", "202-204"]}, 201, Outcome.REJECTED),
    ],
)
def test_a_status_rule_accepts_codes_in_its_ranges(rule: dict, status: int, outcome: str) -> None:
    assert read({"accepted": rule}, b"", status=status, content_type="").outcome == outcome


def test_without_rules_any_2xx_is_accepted_and_the_default_paths_are_read() -> None:
    body = {"price": "3.00", "reference": "R1", "reason": "fine"}
    assert read({}, body, status=201) == Answer(
        Outcome.ACCEPTED, price=D("3.00"), reference="R1", reason="fine", status=201
    )


def test_without_rules_a_text_answer_is_accepted_with_nothing_read_from_it() -> None:
    assert read({}, b"OK", content_type="text/plain") == Answer(Outcome.ACCEPTED, status=200)


def test_a_rejection_by_status_says_which_status() -> None:
    answer = read({}, b"", status=302, content_type="")
    assert (answer.outcome, answer.reason) == (Outcome.REJECTED, "HTTP 302")


@pytest.mark.parametrize(
    ("value", "outcome"),
    [(True, Outcome.ACCEPTED), ("TRUE", Outcome.ACCEPTED), ("yes", Outcome.ACCEPTED),
     (1, Outcome.ACCEPTED), (False, Outcome.REJECTED), (None, Outcome.REJECTED)],
)  # fmt: skip
def test_equals_compares_as_case_insensitive_text(value: Any, outcome: str) -> None:
    rules = {"accepted": {"path": "data.success", "equals": [True, "yes", 1]}}
    assert read(rules, {"data": {"success": value}}).outcome == outcome


def test_a_path_that_is_not_in_the_answer_means_not_accepted() -> None:
    assert read({"accepted": {"path": "a.b", "equals": ["ok"]}}, {"a": "ok"}).outcome == "rejected"


def test_a_contains_rule_looks_at_the_raw_text() -> None:
    rules = {"accepted": {"contains": "success"}}
    assert read(rules, b"Lead posted: SUCCESS", content_type="text/plain").outcome == "accepted"
    assert read(rules, b"Lead posted: failure", content_type="text/plain").outcome == "rejected"


def test_regex_rules_accept_and_extract_from_plain_text() -> None:
    rules = {
        "accepted": {"regex": r"^ACCEPTED\|"},
        "price": {"regex": r"\|([0-9.]+)\|"},
        "reference": {"regex": r"R\d+"},
        "reason": {"regex": r"reason=(\w+)"},
    }
    answer = read(rules, b"ACCEPTED|12.50|R77", content_type="text/plain")
    assert (answer.outcome, answer.price, answer.reference) == (Outcome.ACCEPTED, D("12.50"), "R77")
    answer = read(rules, b"REJECTED reason=dupe", content_type="text/plain")
    assert (answer.outcome, answer.reason) == (Outcome.REJECTED, "dupe")


# --- paths ----------------------------------------------------------------------------------


def test_json_paths_walk_objects_and_list_indexes() -> None:
    rules = {"price": {"path": "offers.0.amount"}, "reference": {"path": "offers.-1.id"}}
    body = {"offers": [{"amount": "9.10", "id": "A"}, {"amount": "8.00", "id": "B"}]}
    answer = read(rules, body)
    assert (answer.price, answer.reference) == (D("9.10"), "B")


def test_xml_paths_read_attributes_and_work_with_or_without_the_root_name() -> None:
    body = b'<result code="ok"><bid amount="3.75"><id> X1 </id></bid></result>'
    rules = {
        "accepted": {"path": "@code", "equals": ["ok"]},
        "price": {"path": "bid/@amount"},
        "reference": {"path": "result/bid/id"},
    }
    answer = read(rules, body, content_type=XML)
    assert (answer.outcome, answer.price, answer.reference) == (Outcome.ACCEPTED, D("3.75"), "X1")


def test_a_list_of_reasons_is_joined() -> None:
    answer = read({"accepted": {"status": "201"}}, {"reason": ["zip not served", "duplicate"]})
    assert answer.reason == "zip not served; duplicate"


def test_json_sent_as_text_plain_is_still_read() -> None:
    answer = read(
        SUMMIT_TX["ping"]["response"], b'{"result":"accepted","bid":"2"}', content_type="text/plain"
    )
    assert (answer.outcome, answer.price) == (Outcome.ACCEPTED, D("2"))


# --- validation and factories ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (["accepted"], "must be a table"),
        ({"accept": {"status": "200"}}, "unexpected key 'accept'"),
        ({"accepted": {"status": "2xx"}}, "status must look like 200 or 200-299"),
        ({"accepted": {"status": "299-200"}}, "not within 100-599"),
        ({"accepted": {"status": 700}}, "not within 100-599"),
        ({"accepted": {"status": []}}, "at least one"),
        ({"accepted": {"path": "result"}}, "'path' needs 'equals'"),
        ({"accepted": {"path": "", "equals": ["ok"]}}, "a path looks like"),
        ({"accepted": {"contains": ""}}, "non-empty text"),
        ({"accepted": {"regex": "("}}, "invalid regex"),
        ({"accepted": {"status": "200", "contains": "ok"}}, "exactly one of"),
        ({"accepted": {"status": "200", "equals": ["ok"]}}, "'equals' only goes with 'path'"),
        ({"accepted": "200-299"}, "expected {status}"),
        ({"price": "bid"}, "expected {path} or {regex}"),
        ({"price": {"path": "bid", "regex": "x"}}, "exactly one of path, regex"),
        ({"reference": {"xpath": "a"}}, "unexpected key 'xpath'"),
        ({"reason": {"regex": "[a-"}}, "invalid regex"),
    ],
)
def test_it_explains_what_is_wrong_with_response_rules(rules: Any, expected: str) -> None:
    errors = validate_response_rules(rules)
    assert any(expected in e for e in errors), errors
    with pytest.raises(ResponseRulesError):
        compile_response_rules(rules)


def test_the_transport_factories_are_retryable() -> None:
    assert Answer.timeout().outcome == Outcome.TIMEOUT
    assert Answer.timeout().retryable is True
    error = Answer.transport_error("connection refused")
    assert (error.outcome, error.reason, error.retryable) == (
        Outcome.TRANSPORT_ERROR,
        "connection refused",
        True,
    )
    assert Answer.circuit_open().outcome == Outcome.CIRCUIT_OPEN
