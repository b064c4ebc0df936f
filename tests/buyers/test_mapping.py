from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal as D
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from buyers.mapping import (
    SPECIAL_SOURCES,
    MappingError,
    compile_mapping,
    validate_mapping,
)
from plumbing.fields import STANDARD_FIELD_NAMES

# The summit-tx endpoints of SPEC §9, as an admin writes them; stored as JSON.
SUMMIT_TX = json.loads(
    json.dumps(
        yaml.safe_load(
            """
ping:
  mapping:
    - {to: zip_code, from: zip}
    - {to: st, from: state}
post:
  mapping:
    - {to: lead/ref, from: bid.reference}
    - {to: lead/name, template: "{first_name} {last_name}"}
    - {to: lead/phone, from: phone, transforms: [digits]}
"""
        )
    )
)
PING_FIELDS = {"zip", "state", "city", "credit_tier", "tcpa_consent", "age", "own_home"}
POST_FIELDS = STANDARD_FIELD_NAMES | PING_FIELDS


def mapped(rules: list[Any], lead: dict[str, Any]) -> dict[str, Any]:
    return compile_mapping(rules)(lead)


def one(rule: dict[str, Any], lead: dict[str, Any]) -> Any:
    """The value one rule writes to target "x", or "<absent>"."""
    return mapped([{"to": "x", **rule}], lead).get("x", "<absent>")


# --- the SPEC example -----------------------------------------------------------------------


def test_the_summit_ping_mapping_sends_only_zip_and_state_under_the_buyers_names() -> None:
    lead = {"zip": "75001", "state": "TX", "credit_tier": "good", "lead.id": "L1", "sub_id": "s"}
    assert mapped(SUMMIT_TX["ping"]["mapping"], lead) == {"zip_code": "75001", "st": "TX"}


def test_the_summit_post_mapping_builds_a_nested_lead_from_the_bid_and_pii() -> None:
    lead = {
        "first_name": "Ann",
        "last_name": "Lee",
        "phone": "(214) 555-0101",
        "zip": "75001",
        "bid.reference": "R-77",
        "bid.price": D("12.50"),
    }
    assert mapped(SUMMIT_TX["post"]["mapping"], lead) == {
        "lead": {"ref": "R-77", "name": "Ann Lee", "phone": "2145550101"}
    }


def test_the_summit_mappings_validate_for_their_own_stage() -> None:
    assert (
        validate_mapping(SUMMIT_TX["ping"]["mapping"], known_fields=PING_FIELDS, stage="ping") == []
    )
    assert (
        validate_mapping(SUMMIT_TX["post"]["mapping"], known_fields=POST_FIELDS, stage="post") == []
    )


def test_it_refuses_the_summit_post_mapping_as_a_ping_mapping() -> None:
    errors = validate_mapping(SUMMIT_TX["post"]["mapping"], known_fields=POST_FIELDS, stage="ping")
    text = "\n".join(errors)
    assert "'bid.reference' does not exist at ping time" in text
    for field in ("first_name", "last_name", "phone"):
        assert f"'{field}' is personal data" in text


# --- validation -----------------------------------------------------------------------------


def problems(rules: Any, stage: str = "post") -> list[str]:
    return validate_mapping(rules, known_fields=POST_FIELDS, stage=stage)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"to": "x", "from": "zip"}, "must be a list of rules"),
        (["to: x"], "expected a rule like {to, from}"),
        ([{"from": "zip"}], "'to' must be a target name"),
        ([{"to": "a..b", "from": "zip"}], "'to' must be a target name"),
        ([{"to": "x"}], "give exactly one of from, value, template (found none)"),
        ([{"to": "x", "from": "zip", "value": 1}], "(found from, value)"),
        ([{"to": "x", "from": "zip", "form": "zip"}], "unexpected key 'form'"),
        ([{"to": "x", "from": "zip", "transforms": ["reverse"]}], "unknown transform 'reverse'"),
        ([{"to": "x", "from": "zip", "transforms": ["truncate:abc"]}], "truncate needs a positive"),
        (
            [{"to": "x", "from": "zip", "transforms": [{"truncate": 0}]}],
            "truncate needs a positive",
        ),
        ([{"to": "x", "from": "zip", "transforms": ["truncate"]}], "'truncate' needs an argument"),
        ([{"to": "x", "from": "zip", "transforms": ["digits:3"]}], "'digits' takes no argument"),
        ([{"to": "x", "from": "zip", "transforms": ["boolean:YES"]}], "boolean needs 'TRUE/FALSE'"),
        ([{"to": "x", "from": "dob", "transforms": [{"date": "mm/dd"}]}], "strftime format"),
        ([{"to": "x", "from": "zip", "transforms": "digits"}], "'transforms' must be a list"),
        ([{"to": "x", "from": "zip", "transforms": [{"a": 1, "b": 2}]}], "one-key table"),
        ([{"to": "x", "from": "city", "index": 1}], "'index' only goes with 'split'"),
        ([{"to": "x", "from": "city", "split": ""}], "'split' must be a non-empty"),
        ([{"to": "x", "from": "city", "split": " ", "index": "1"}], "'index' must be a whole"),
        ([{"to": "x", "value": "a", "map": {"a": "b"}}], "they need 'from'"),
        ([{"to": "x", "from": "city", "map": ["a"]}], "'map' must be a table"),
        ([{"to": "x", "template": "{first_name"}], "is malformed"),
        ([{"to": "x", "template": "{zip:>10}"}], "plain field names"),
        ([{"to": "x", "from": "zip", "when": {"field": "state", "op": "like"}}], "unknown op"),
        ([{"to": "x", "from": "zip", "when": "state == TX"}], "'when' must be a condition"),
        ([{"to": "x", "from": "nope"}], "unknown field 'nope'"),
        ([{"to": "x", "template": "{zip}-{plus4}"}], "unknown field 'plus4'"),
        ([{"to": "x", "from": "zip", "when": {"field": "hue", "op": "exists"}}], "'hue'"),
        ([{"to": "a", "from": "zip"}, {"to": "a.b", "from": "city"}], "both a value and"),
    ],
)
def test_it_explains_what_is_wrong_with_a_rule(rules: Any, expected: str) -> None:
    errors = problems(rules)
    assert any(expected in e for e in errors), errors


def test_it_names_the_rule_in_each_error() -> None:
    errors = problems([{"to": "zip_code", "from": "zip"}, {"to": "st", "from": "province"}])
    assert errors == ["rule 2 (st): unknown field 'province'"]


def test_it_accepts_every_special_source_in_a_post_mapping() -> None:
    rules = [{"to": s.replace(".", "_"), "from": s} for s in sorted(SPECIAL_SOURCES)]
    assert problems(rules) == []


def test_it_accepts_the_non_bid_special_sources_in_a_ping_mapping() -> None:
    rules = [
        {"to": "ref", "template": "{lead.id}/{publisher.id}/{sub_id}"},
        {"to": "at", "from": "lead.created_at"},
    ]
    assert problems(rules, stage="ping") == []


@pytest.mark.parametrize(
    "rule",
    [
        {"to": "x", "from": "email"},
        {"to": "x", "template": "{zip} {dob}"},
        {"to": "x", "value": "1", "when": {"field": "phone", "op": "exists"}},
        {"to": "x", "value": "1", "when": {"any": [{"field": "ip_address", "op": "exists"}]}},
        {"to": "x", "from": "bid.price"},
    ],
)
def test_it_refuses_a_ping_mapping_that_reads_personal_data_or_the_bid(rule: dict) -> None:
    assert problems([rule], stage="ping")
    assert problems([rule], stage="post") == []


def test_compiling_an_invalid_mapping_raises_with_every_problem() -> None:
    with pytest.raises(MappingError) as exc:
        compile_mapping([{"to": "x"}, {"to": "y", "from": "zip", "transforms": ["shout"]}])
    assert "rule 1 (x)" in str(exc.value)
    assert "unknown transform 'shout'" in str(exc.value)


# --- rule kinds -----------------------------------------------------------------------------


def test_a_copy_keeps_the_values_type() -> None:
    lead = {"tcpa_consent": True, "income": D("5000.00"), "age": 41}
    rules = [{"to": k, "from": k} for k in lead]
    assert mapped(rules, lead) == lead
    assert isinstance(mapped(rules, lead)["income"], D)


def test_a_static_value_is_sent_whatever_the_lead_holds() -> None:
    rules = [{"to": "source", "value": "switchyard"}, {"to": "test", "value": False}]
    assert mapped(rules, {}) == {"source": "switchyard", "test": False}


def test_a_template_joins_fields_and_special_sources() -> None:
    rule = {"template": "{lead.id}:{zip}"}
    assert one(rule, {"lead.id": "L-1", "zip": "75001"}) == "L-1:75001"


def test_a_template_with_a_missing_part_leaves_no_dangling_space() -> None:
    assert one({"template": "{first_name} {last_name}"}, {"first_name": "Ann"}) == "Ann"


def test_a_template_whose_fields_are_all_missing_is_not_sent() -> None:
    assert one({"template": "{first_name} {last_name}"}, {"zip": "75001"}) == "<absent>"


@pytest.mark.parametrize(
    ("index", "expected"), [(0, "Ann"), (1, "Marie"), (-1, "Lee"), (5, "<absent>")]
)
def test_a_split_picks_one_part(index: int, expected: str) -> None:
    lead = {"full_name": "Ann  Marie Lee"}
    assert one({"from": "full_name", "split": " ", "index": index}, lead) == expected


def test_a_split_on_a_separator_trims_the_parts() -> None:
    assert one({"from": "city", "split": ",", "index": 1}, {"city": "Dallas, TX"}) == "TX"


def test_a_split_without_index_takes_the_first_part() -> None:
    assert one({"from": "zip", "split": "-"}, {"zip": "75001-1234"}) == "75001"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("own", "Y"), ("RENT", "N"), ("lease", "U"), (None, "U"), (True, "T")],
)
def test_a_translation_table_maps_values_with_a_default(value: Any, expected: str) -> None:
    rule = {"from": "own_home", "map": {"own": "Y", "rent": "N", "true": "T"}, "default": "U"}
    assert one(rule, {"own_home": value}) == expected


def test_a_translation_table_without_default_passes_unlisted_values_through() -> None:
    assert one({"from": "own_home", "map": {"own": "Y"}}, {"own_home": "lease"}) == "lease"


def test_a_translation_table_reads_yaml_booleans_stored_as_json() -> None:
    table = json.loads(json.dumps(yaml.safe_load("{true: 'Y', false: 'N'}")))
    assert one({"from": "tcpa_consent", "map": table}, {"tcpa_consent": False}) == "N"


# --- missing values, defaults and conditions -----------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   ", []])
def test_a_missing_or_empty_value_writes_no_key(value: Any) -> None:
    assert mapped([{"to": "city", "from": "city"}], {"city": value}) == {}


def test_a_rule_default_fills_in_for_a_missing_value() -> None:
    assert one({"from": "city", "default": "Unknown"}, {}) == "Unknown"


def test_a_default_transform_fills_in_for_a_value_emptied_by_an_earlier_transform() -> None:
    assert (
        one({"from": "phone", "transforms": ["digits", "default:0000"]}, {"phone": "n/a"}) == "0000"
    )


def test_a_rule_with_a_when_condition_writes_only_when_it_holds() -> None:
    rule = {"from": "zip", "when": {"field": "state", "op": "eq", "value": "TX"}}
    assert one(rule, {"zip": "75001", "state": "TX"}) == "75001"
    assert one(rule, {"zip": "73001", "state": "OK"}) == "<absent>"


def test_a_when_group_combines_conditions() -> None:
    rule = {
        "value": "priority",
        "when": {
            "any": [
                {"field": "credit_tier", "op": "eq", "value": "excellent"},
                {"field": "age", "op": "gte", "value": 65},
            ]
        },
    }
    assert one(rule, {"credit_tier": "good", "age": 70}) == "priority"
    assert one(rule, {"credit_tier": "good", "age": 30}) == "<absent>"


def test_conditional_rules_can_share_a_target() -> None:
    rules = [
        {"to": "tier", "value": "A", "when": {"field": "age", "op": "lt", "value": 30}},
        {"to": "tier", "value": "B", "when": {"field": "age", "op": "gte", "value": 30}},
    ]
    assert mapped(rules, {"age": 45}) == {"tier": "B"}
    assert problems(rules) == []


# --- targets --------------------------------------------------------------------------------


def test_dotted_and_slashed_targets_build_one_nested_object() -> None:
    rules = [
        {"to": "contact.email", "from": "email"},
        {"to": "contact/phone/mobile", "from": "phone"},
        {"to": "contact.name", "value": "x"},
        {"to": "zip", "from": "zip"},
    ]
    lead = {"email": "a@b.co", "phone": "2145550101", "zip": "75001"}
    assert mapped(rules, lead) == {
        "contact": {"email": "a@b.co", "phone": {"mobile": "2145550101"}, "name": "x"},
        "zip": "75001",
    }


def test_an_empty_mapping_passes_lead_fields_through_without_special_sources() -> None:
    lead = {
        "zip": "75001",
        "tcpa_consent": True,
        "lead.id": "L1",
        "bid.price": D("3"),
        "sub_id": "a",
    }
    assert mapped([], lead) == {"zip": "75001", "tcpa_consent": True}


# --- transforms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transforms", "value", "expected"),
    [
        (["digits"], "+1 (214) 555-0101", "12145550101"),
        (["upper"], "tx", "TX"),
        (["lower"], "Ann@Example.COM", "ann@example.com"),
        (["trim"], "  Dallas ", "Dallas"),
        (["truncate:5"], "75001-1234", "75001"),
        ([{"truncate": 3}], "Texas", "Tex"),
        (["date:%m/%d/%Y"], "1980-07-04", "07/04/1980"),
        ([{"date": "%Y%m%d %H:%M"}], "2024-03-01T09:30:00Z", "20240301 09:30"),
        ([{"date": "%d.%m.%Y"}], date(1999, 12, 31), "31.12.1999"),
        (["date:%Y"], datetime(2020, 5, 6, 7, 8), "2020"),
        (["date:%m/%d/%Y"], "yesterday", "yesterday"),
        (["state_name"], "TX", "Texas"),
        (["state_name"], "dc", "District of Columbia"),
        (["state_name"], "ZZ", "ZZ"),
        (["yes_no"], True, "Yes"),
        (["yes_no"], False, "No"),
        (["yes_no"], "false", "No"),
        (["yes_no"], "NO", "No"),
        (["yes_no"], "0", "No"),
        (["yes_no"], 0, "No"),
        (["yes_no"], "yes", "Yes"),
        (["boolean:TRUE/FALSE"], True, "TRUE"),
        ([{"boolean": "1/0"}], "no", "0"),
        (["currency"], "12.5", "12.50"),
        (["currency"], D("3"), "3.00"),
        (["currency"], 7.125, "7.13"),
        (["currency"], "$1,234.5", "1234.50"),
        (["currency"], "call me", "call me"),
        (["digits", "truncate:3"], "(214) 555", "214"),
        (["trim", "upper", {"truncate": 2}], " texas ", "TE"),
        (["default:none"], "", "none"),
        (["default:none"], "set", "set"),
    ],
)
def test_transforms_apply_in_order(transforms: list[Any], value: Any, expected: str) -> None:
    assert one({"from": "v", "transforms": transforms}, {"v": value}) == expected


def test_a_date_format_may_contain_colons_in_the_short_form() -> None:
    rule = {"from": "consent_at", "transforms": ["date:%H:%M"]}
    assert one(rule, {"consent_at": "2024-03-01T09:30:00"}) == "09:30"


def test_a_transform_on_a_missing_value_writes_nothing() -> None:
    assert one({"from": "v", "transforms": ["yes_no"]}, {}) == "<absent>"


# --- robustness ---------------------------------------------------------------------------

EVERY_KIND = [
    {"to": "a", "from": "v", "transforms": ["digits", "upper", "lower", "trim", "truncate:4"]},
    {"to": "b", "from": "v", "transforms": ["date:%Y", "state_name", "yes_no", "currency"]},
    {"to": "c.d", "from": "v", "split": "-", "index": 2, "transforms": ["boolean:T/F"]},
    {"to": "e", "from": "v", "map": {"x": 1}, "default": 0},
    {"to": "f", "template": "{v}{w}", "when": {"field": "v", "op": "gt", "value": 3}},
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(),
    st.decimals(allow_nan=True),
    st.floats(),
    st.dates(),
    st.lists(st.text(), max_size=2),
)


@given(v=SCALARS, w=SCALARS)
def test_a_compiled_mapping_never_raises_on_any_lead_value(v: Any, w: Any) -> None:
    compile_mapping(EVERY_KIND)({"v": v, "w": w})
