from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buyers.filters import (
    DEFERRED,
    FilterError,
    compile_condition,
    compile_filters,
    validate_filters,
)

TODAY = date(2024, 6, 15)

# The summit-tx campaign of SPEC §9.
SUMMIT_TX = [
    {"field": "state", "op": "in", "value": ["TX", "OK"]},
    {"field": "credit_tier", "op": "ne", "value": "poor"},
]


def passes(rule: dict[str, Any] | list[Any], lead: dict[str, Any]) -> bool:
    return compile_condition(rule, today=lambda: TODAY)(lead)


def reason(filters: list[Any], lead: dict[str, Any]) -> str | None:
    return compile_filters(filters, today=lambda: TODAY)(lead)


@pytest.mark.parametrize(
    ("rule", "lead", "expected"),
    [
        # eq / ne: case-insensitive text; YAML scalars match their text form
        ({"field": "state", "op": "eq", "value": "TX"}, {"state": "tx"}, True),
        ({"field": "state", "op": "eq", "value": "TX"}, {"state": "CA"}, False),
        ({"field": "homeowner", "op": "eq", "value": True}, {"homeowner": "true"}, True),
        ({"field": "homeowner", "op": "eq", "value": True}, {"homeowner": False}, False),
        ({"field": "zip", "op": "eq", "value": 75001}, {"zip": "75001"}, True),
        ({"field": "premium", "op": "eq", "value": 12.5}, {"premium": D("12.50")}, True),
        ({"field": "zip", "op": "eq", "value": "01234"}, {"zip": "1234"}, False),
        ({"field": "state", "op": "ne", "value": "TX"}, {"state": "CA"}, True),
        ({"field": "state", "op": "ne", "value": "TX"}, {"state": "Tx"}, False),
        # in / not_in
        ({"field": "state", "op": "in", "value": ["TX", "OK"]}, {"state": "ok"}, True),
        ({"field": "state", "op": "in", "value": ["TX", "OK"]}, {"state": "CA"}, False),
        ({"field": "zip", "op": "in", "value": [75001, 75002]}, {"zip": 75002}, True),
        ({"field": "state", "op": "not_in", "value": ["NY"]}, {"state": "TX"}, True),
        ({"field": "state", "op": "not_in", "value": ["NY"]}, {"state": "ny"}, False),
        # ordered comparisons: numbers, then ISO dates
        ({"field": "vehicles", "op": "gt", "value": 1}, {"vehicles": "2"}, True),
        ({"field": "vehicles", "op": "gt", "value": 2}, {"vehicles": 2}, False),
        ({"field": "vehicles", "op": "gte", "value": 2}, {"vehicles": D("2.0")}, True),
        ({"field": "vehicles", "op": "gte", "value": 2}, {"vehicles": "1.99"}, False),
        ({"field": "income", "op": "lt", "value": "50000"}, {"income": 49999}, True),
        ({"field": "income", "op": "lt", "value": "50000"}, {"income": "50000"}, False),
        ({"field": "income", "op": "lte", "value": 50000}, {"income": "50000.00"}, True),
        ({"field": "income", "op": "lte", "value": 50000}, {"income": "50000.01"}, False),
        ({"field": "income", "op": "gt", "value": 100}, {"income": "lots"}, False),
        ({"field": "income", "op": "gt", "value": 0}, {"income": True}, False),
        (
            {"field": "policy_end", "op": "lt", "value": "2024-07-01"},
            {"policy_end": "2024-06-30"},
            True,
        ),
        (
            {"field": "policy_end", "op": "lt", "value": "2024-07-01"},
            {"policy_end": "2024-07-01"},
            False,
        ),
        ({"field": "policy_end", "op": "gt", "value": "2024-07-01"}, {"policy_end": "soon"}, False),
        # between is inclusive
        ({"field": "score", "op": "between", "value": [600, 700]}, {"score": "600"}, True),
        ({"field": "score", "op": "between", "value": [600, 700]}, {"score": "700.5"}, False),
        (
            {"field": "d", "op": "between", "value": ["2024-01-01", "2024-12-31"]},
            {"d": "2024-05-01"},
            True,
        ),
        (
            {"field": "d", "op": "between", "value": ["2024-01-01", "2024-12-31"]},
            {"d": "2025-01-01"},
            False,
        ),
        # contains / starts_with: case-insensitive text, a list means any of them
        ({"field": "email", "op": "contains", "value": "@GMAIL."}, {"email": "a@gmail.com"}, True),
        ({"field": "email", "op": "contains", "value": "@gmail."}, {"email": "a@yahoo.com"}, False),
        ({"field": "zip", "op": "starts_with", "value": [750, 751]}, {"zip": "75123"}, True),
        ({"field": "zip", "op": "starts_with", "value": [750, 751]}, {"zip": 90210}, False),
        (
            {"field": "landing_page", "op": "starts_with", "value": "HTTPS://"},
            {"landing_page": "https://x"},
            True,
        ),
        # regex: re.search, case-sensitive as Python's is
        ({"field": "zip", "op": "regex", "value": r"^7[5-9]\d{3}$"}, {"zip": "75001"}, True),
        ({"field": "zip", "op": "regex", "value": r"^7[5-9]\d{3}$"}, {"zip": "70001"}, False),
        ({"field": "email", "op": "regex", "value": "example"}, {"email": "a@EXAMPLE.com"}, False),
        # exists / not_exists: blank and empty are absent
        ({"field": "jornaya_leadid", "op": "exists"}, {"jornaya_leadid": "abc"}, True),
        ({"field": "jornaya_leadid", "op": "exists"}, {"jornaya_leadid": "  "}, False),
        ({"field": "jornaya_leadid", "op": "exists"}, {"jornaya_leadid": False}, True),
        ({"field": "sub_id", "op": "not_exists"}, {}, True),
        ({"field": "sub_id", "op": "not_exists"}, {"sub_id": "s1"}, False),
    ],
)
def test_each_operator_passes_and_fails_the_leads_it_should(
    rule: dict[str, Any], lead: dict[str, Any], expected: bool
) -> None:
    assert passes(rule, lead) is expected


@pytest.mark.parametrize("op", ["eq", "in", "gt", "between", "contains", "starts_with", "regex"])
def test_a_missing_field_fails_positive_operators(op: str) -> None:
    value = {"in": ["x"], "between": [1, 2], "gt": 1}.get(op, "x")
    rule = {"field": "f", "op": op, "value": value}
    assert not passes(rule, {})
    assert not passes(rule, {"f": None})
    assert not passes(rule, {"f": ""})


@pytest.mark.parametrize("op", ["ne", "not_in"])
def test_a_missing_field_passes_negative_operators(op: str) -> None:
    value = ["x"] if op == "not_in" else "x"
    assert passes({"field": "f", "op": op, "value": value}, {})


@pytest.mark.parametrize(
    ("lead", "expected"),
    [
        ({"dob": "2003-06-15"}, True),  # 21 today
        ({"dob": "2003-06-16"}, False),  # 21 tomorrow
        ({"dob": "1959-06-16"}, True),  # still 64
        ({"dob": "1959-06-15"}, False),  # 65 today: above the range
        ({"age": "30"}, True),
        ({"age": 18}, False),
        ({"dob": "1990-01-01", "age": 12}, True),  # dob wins over age
        ({"dob": "garbage", "age": 40}, True),  # an unreadable dob falls back to age
        ({}, False),
    ],
)
def test_age_between_counts_whole_years_from_dob_or_age(
    lead: dict[str, Any], expected: bool
) -> None:
    assert passes({"op": "age_between", "value": [21, 64]}, lead) is expected


def test_age_between_uses_the_injected_clock() -> None:
    rule = [{"op": "age_between", "value": [18, 99]}]
    lead = {"dob": "2006-07-01"}
    assert compile_filters(rule, today=lambda: date(2024, 6, 30))(lead) is not None
    assert compile_filters(rule, today=lambda: date(2024, 7, 1))(lead) is None


def test_groups_nest_any_inside_all() -> None:
    rule = [
        {"field": "state", "op": "eq", "value": "TX"},
        {
            "any": [
                {"field": "homeowner", "op": "eq", "value": True},
                {
                    "all": [
                        {"field": "vehicles", "op": "gte", "value": 2},
                        {"field": "age", "op": "gt", "value": 25},
                    ]
                },
            ]
        },
    ]
    assert passes(rule, {"state": "TX", "homeowner": "true"})
    assert passes(rule, {"state": "TX", "vehicles": 3, "age": 30})
    assert not passes(rule, {"state": "TX", "vehicles": 3, "age": 20})
    assert not passes(rule, {"state": "OK", "homeowner": "true"})


def test_an_empty_filter_list_lets_every_lead_through() -> None:
    assert compile_filters([])({"anything": 1}) is None
    assert compile_filters(None)({}) is None
    assert compile_condition([])({})


def test_summit_tx_takes_texas_and_oklahoma_unless_credit_is_poor() -> None:
    check = compile_filters(SUMMIT_TX)
    assert check({"state": "TX", "credit_tier": "good"}) is None
    assert check({"state": "OK"}) is None  # no credit tier: ne does not exclude it
    assert check({"state": "CA", "credit_tier": "good"}) == 'state in [TX, OK]: got "CA"'
    assert check({"state": "TX", "credit_tier": "poor"}) == 'credit_tier ne poor: got "poor"'
    assert check({"credit_tier": "good"}) == "state missing"


def test_publisher_and_sub_id_lists_are_ordinary_filters() -> None:
    check = compile_filters(
        [
            {"field": "publisher", "op": "not_in", "value": ["shady-leads"]},
            {"field": "sub_id", "op": "not_in", "value": ["s-13"]},
        ]
    )
    assert check({"publisher": "acme-media", "sub_id": "s-1"}) is None
    assert check({"publisher": "acme-media"}) is None
    assert (
        check({"publisher": "shady-leads"}) == 'publisher not_in [shady-leads]: got "shady-leads"'
    )
    assert (
        check({"publisher": "acme-media", "sub_id": "S-13"}) == 'sub_id not_in [s-13]: got "S-13"'
    )


def test_reasons_name_the_failing_rule_and_the_leads_value() -> None:
    assert reason([{"field": "credit_tier", "op": "exists"}], {}) == "credit_tier missing"
    assert reason([{"field": "vehicles", "op": "gt", "value": 2}], {"vehicles": 1}) == (
        "vehicles gt 2: got 1"
    )
    assert reason([{"field": "sub_id", "op": "not_exists"}], {"sub_id": "s1"}) == (
        'sub_id not_exists: got "s1"'
    )
    assert reason([{"op": "age_between", "value": [21, 65]}], {"dob": "2010-01-01"}) == (
        "age_between [21, 65]: got age 14"
    )
    assert reason([{"op": "age_between", "value": [21, 65]}], {}) == "dob/age missing"
    long_value = "x" * 200
    got = reason([{"field": "note", "op": "eq", "value": "y"}], {"note": long_value})
    assert got is not None and len(got) < 60 and got.endswith('…"')


def test_an_any_group_reason_lists_every_failed_branch() -> None:
    rule = [
        {
            "any": [
                {"field": "state", "op": "eq", "value": "TX"},
                {
                    "any": [
                        {"field": "zip", "op": "starts_with", "value": ["750", "751"]},
                        {"field": "homeowner", "op": "eq", "value": True},
                    ]
                },
            ]
        }
    ]
    assert reason(rule, {"state": "CA", "zip": "90210"}) == (
        'any of 2 rules failed: state eq TX: got "CA"; '
        '(any of 2 rules failed: zip starts_with [750, 751]: got "90210"; homeowner missing)'
    )


def test_validation_accepts_the_summit_tx_filters() -> None:
    assert validate_filters(SUMMIT_TX, known_fields={"state", "credit_tier"}) == []
    assert validate_filters(None) == []


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (
            [{"field": "state", "op": "equals", "value": "TX"}],
            "rule 1 (state): unknown op 'equals'",
        ),
        ([{"field": "state", "value": "TX"}], "rule 1 (state): missing op"),
        ([{"op": "eq", "value": "TX"}], "rule 1: missing field"),
        (
            [{"field": "state", "op": "in", "value": "TX"}],
            "rule 1 (state): in needs a list of values",
        ),
        (
            [{"field": "state", "op": "in", "value": []}],
            "rule 1 (state): in needs at least one value",
        ),
        (
            [{"field": "state", "op": "eq", "value": ["TX"]}],
            "rule 1 (state): eq needs a single value",
        ),
        (
            [{"field": "s", "op": "between", "value": [1]}],
            "rule 1 (s): between needs a 2-item list",
        ),
        (
            [{"field": "s", "op": "between", "value": [1, "2024-01-01"]}],
            "both numbers or both ISO dates",
        ),
        ([{"field": "s", "op": "between", "value": [9, 1]}], "between bounds are reversed"),
        ([{"op": "age_between", "value": 21}], "rule 1: age_between needs a 2-item list"),
        ([{"op": "age_between", "value": ["old", 99]}], "age_between bounds must be numbers"),
        ([{"field": "s", "op": "gt", "value": "lots"}], "gt needs a number or an ISO date"),
        ([{"field": "z", "op": "regex", "value": "(75"}], "rule 1 (z): invalid regex '(75'"),
        (
            [{"field": "zip", "op": "zip_radius", "value": ["00000", 25]}],
            "zip_radius: 00000 is not a known US ZIP code",
        ),
        ([{"field": "zip", "op": "zip_radius", "value": ["75001", 0]}], "zip_radius needs [ZIP"),
        ([{"field": "zip", "op": "zip_radius", "value": "75001"}], "zip_radius needs [ZIP"),
        ([{"field": "state", "op": "eq", "values": "TX"}], "unexpected key 'values'"),
        ([{"any": []}], "rule 1: an any group needs at least one rule"),
        ([{"any": {"field": "x"}}], "rule 1: an any group needs a list of rules"),
        ([{"any": [], "field": "x"}], "a group has a single key, any or all"),
        (
            [{"field": "a", "op": "eq", "value": 1}, {"all": ["TX"]}],
            "rule 2.1: expected {field, op, value}",
        ),
        ("state=TX", "filters must be a list of rules"),
    ],
)
def test_validation_explains_what_is_wrong(filters: Any, message: str) -> None:
    errors = validate_filters(filters)
    assert any(message in error for error in errors), errors


def test_validation_flags_unknown_fields_but_knows_the_pseudo_fields() -> None:
    filters = [
        {"field": "stat", "op": "eq", "value": "TX"},
        {"field": "publisher", "op": "in", "value": ["acme-media"]},
        {"field": "sub_id", "op": "exists"},
    ]
    assert validate_filters(filters, known_fields=["state"]) == [
        "rule 1 (stat): unknown field 'stat'"
    ]
    assert validate_filters(filters) == []


def test_compiling_an_invalid_filter_raises_with_the_validation_message() -> None:
    with pytest.raises(FilterError, match="00000 is not a known US ZIP code"):
        compile_filters([{"field": "zip", "op": "zip_radius", "value": ["00000", 25]}])
    with pytest.raises(FilterError, match="unknown op"):
        compile_condition({"field": "state", "op": "like", "value": "T%"})


# Values a lead can carry, weighted towards the awkward ones.
EDGE_VALUES = [
    "",
    " ",
    "2024-02-30",
    "1e999999999",
    "NaN",
    "-0",
    "20240101",
    "TX",
    D("NaN"),
    D("sNaN"),
    D("-Infinity"),
    D("1E+999999"),
    float("nan"),
    float("inf"),
]
scalars = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(),
    st.dates(),
    st.datetimes(),
)
lead_values = st.one_of(
    scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(), scalars, max_size=3)
)
FUZZ_FIELDS = ["state", "score", "dob", "age", "email", "zip", "publisher"]

EVERY_OPERATOR = [
    {"field": "state", "op": "eq", "value": "TX"},
    {"field": "state", "op": "ne", "value": 1},
    {"field": "state", "op": "in", "value": ["TX", 2, 2.5, True]},
    {"field": "state", "op": "not_in", "value": ["TX", 2]},
    {"field": "score", "op": "gt", "value": 5},
    {"field": "score", "op": "gte", "value": "2024-01-01"},
    {"field": "score", "op": "lt", "value": "1e3"},
    {"field": "score", "op": "lte", "value": -1.5},
    {"field": "score", "op": "between", "value": [1, 2]},
    {"field": "dob", "op": "between", "value": ["1990-01-01", "2000-01-01"]},
    {"field": "email", "op": "contains", "value": "@"},
    {"field": "zip", "op": "starts_with", "value": [7, "8"]},
    {"field": "zip", "op": "regex", "value": r"^\d{5}$"},
    {"field": "email", "op": "exists"},
    {"field": "publisher", "op": "not_exists"},
    {"op": "age_between", "value": [18, 99]},
]


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional=dict.fromkeys(FUZZ_FIELDS, lead_values)))
def test_no_lead_makes_a_compiled_filter_raise(lead: dict[str, Any]) -> None:
    for rule in EVERY_OPERATOR:
        result = compile_filters([rule])(lead)
        assert result is None or isinstance(result, str)
    check_any = compile_filters([{"any": EVERY_OPERATOR}])
    check_all = compile_filters(EVERY_OPERATOR)
    assert check_any(lead) is None or "any of" in str(check_any(lead))
    check_all(lead)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        lead_values,
        lambda c: (
            st.dictionaries(st.sampled_from(["field", "op", "value", "any", "all"]), c, max_size=4)
            | st.lists(c, max_size=3)
        ),
    )
)
def test_validation_never_raises_on_any_input(filters: Any) -> None:
    assert isinstance(validate_filters(filters, known_fields=["state"]), list)


def test_an_integer_too_long_to_print_fails_rules_without_raising() -> None:
    huge = 10**5000  # str() of it raises ValueError in Python 3.11+
    for rule in EVERY_OPERATOR:
        result = compile_filters([rule])({"state": huge, "score": huge, "zip": huge, "age": huge})
        assert result is None or isinstance(result, str)
    assert compile_filters([{"field": "n", "op": "gt", "value": 5}])({"n": huge}) is None
    assert (
        compile_filters([{"field": "n", "op": "eq", "value": 5}])({"n": huge}) == "n eq 5: got int"
    )


# --- zip_radius and post-stage fields -------------------------------------------------------


@pytest.mark.parametrize(
    ("zip_code", "passes"),
    [
        ("75001", True),  # the centre itself (Addison, TX)
        ("75201", True),  # downtown Dallas, about 12 miles away
        ("75001-1234", True),  # ZIP+4 reads as its ZIP
        ("76102", False),  # Fort Worth, about 35 miles
        ("90210", False),  # Beverly Hills
        ("00000", False),  # not a ZIP at all
    ],
)
def test_zip_radius_keeps_leads_within_the_miles_around_a_zip(zip_code: str, passes: bool) -> None:
    check = compile_filters([{"field": "zip", "op": "zip_radius", "value": ["75001", 25]}])
    assert (check({"zip": zip_code}) is None) is passes


def test_zip_radius_takes_an_object_and_names_the_rule_when_it_fails() -> None:
    check = compile_filters(
        [{"field": "zip", "op": "zip_radius", "value": {"zip": "75001", "miles": 15}}]
    )
    assert check({"zip": "75201"}) is None
    assert check({"zip": "90210"}) == 'zip within 15 miles of 75001: got "90210"'
    assert check({}) == "zip missing"


def test_a_rule_on_a_deferred_field_passes_until_the_value_is_known() -> None:
    check = compile_filters(
        [
            {"op": "age_between", "value": [25, 60]},
            {"field": "email", "op": "contains", "value": "@example.com"},
            {"field": "address", "op": "exists"},
        ],
        today=lambda: date(2025, 6, 1),
    )
    deferred = {"dob": DEFERRED, "email": DEFERRED, "address": DEFERRED}
    assert check(deferred) is None
    full = {"dob": "2004-01-01", "email": "ann@example.com", "address": "1 Elm St"}
    assert check(full) == "age_between [25, 60]: got age 21"
    assert check({**full, "dob": "1980-01-01", "email": "ann@gmail.com"}).startswith(
        "email contains"
    )
