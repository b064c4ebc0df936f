"""The published API schema (SPEC §3): the keys' security schemes, one lead schema
per vertical built from its fields, and every machine code the API answers with
explained — in the schema and in docs/api.md."""

from __future__ import annotations

import ast
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from exchange.api.codes import ERROR_CODES, ERRORS_BY_CODE, REASON_CODES
from exchange.management.commands.load_demo import DEMO_LIVE_KEY
from exchange.models import Vertical
from plumbing.fields import vertical_schema

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    p
    for app in ("plumbing", "buyers", "exchange", "leads", "reporting")
    for p in (ROOT / app).rglob("*.py")
]


@pytest.fixture
def demo(settings: Any) -> None:
    settings.DEBUG = True
    # No simulated buyers here: their URLs lead to a closed port, not to a demo running on
    # this machine.
    settings.SWITCHYARD = {**settings.SWITCHYARD, "SIMULATOR_URL": "http://127.0.0.1:9"}
    call_command("load_demo", stdout=StringIO())


def schema_of(api: Any) -> dict[str, Any]:
    answer = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    return answer.json()


def test_the_schema_lists_each_demo_vertical_s_fields_types_stages_and_required_flags(
    api: Any, demo: None
) -> None:
    components = schema_of(api)["components"]["schemas"]
    for vertical in Vertical.objects.prefetch_related("fields"):
        fields = vertical_schema(vertical.fields.all())
        prefix = "".join(w.capitalize() for w in vertical.slug.split("-"))
        ping, post = components[f"{prefix}PingLead"], components[f"{prefix}PostLead"]
        # The ping lists the ping-stage fields only; the post lists them all.
        assert set(ping["properties"]) == {n for n, s in fields.items() if s.stage == "ping"}
        assert set(post["properties"]) == set(fields)
        assert set(ping.get("required", [])) == {n for n, s in fields.items() if s.required_at_ping}
        assert set(post["required"]) == {n for n, s in fields.items() if s.required_at_post}
        for name, spec in fields.items():
            prop = post["properties"][name]
            assert (prop["x-type"], prop["x-stage"]) == (spec.type, spec.stage)
            assert prop["x-required-at-post"] is spec.required_at_post
        assert ping["additionalProperties"] is False
    # What the demo's auto-insurance vertical adds, as a publisher's developer reads it.
    ping = components["AutoInsurancePingLead"]
    assert ping["properties"]["credit_tier"]["enum"] == ["excellent", "good", "fair", "poor"]
    assert ping["properties"]["vehicle_year"]["type"] == "integer"
    assert ping["properties"]["currently_insured"]["type"] == "boolean"
    assert "email" not in ping["properties"]  # personal data is never in a ping
    assert ping["required"] == ["zip"]
    post = components["AutoInsurancePostLead"]
    assert {"first_name", "last_name", "email", "phone", "zip"} == set(post["required"])
    assert "personal data" in post["properties"]["phone"]["description"]


def test_the_ping_post_and_direct_post_bodies_are_a_choice_of_the_verticals_shapes(
    api: Any, demo: None
) -> None:
    schema = schema_of(api)
    components = schema["components"]["schemas"]
    ping = components["PingRequestRequest"]
    assert ping["oneOf"] == [{"$ref": "#/components/schemas/AutoInsurancePingRequest"}]
    assert ping["discriminator"]["propertyName"] == "vertical"
    assert components["AutoInsurancePingRequest"]["properties"]["vertical"]["enum"] == [
        "auto-insurance"
    ]
    direct = components["AutoInsuranceDirectPostRequest"]
    assert direct["properties"]["lead"] == {"$ref": "#/components/schemas/AutoInsurancePostLead"}
    for path in ("/api/v1/ping", "/api/v1/post", "/api/v1/leads"):
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert set(body["examples"]) == {"auto-insurance"}


def test_the_schema_s_examples_are_accepted_by_the_api(api: Any, demo: None) -> None:
    """The generated example of each vertical passes its own validation: posting it
    answers 200 (sold or not is the market's business), never a 422."""
    components = schema_of(api)["components"]["schemas"]
    auth = {"format": "json", "HTTP_AUTHORIZATION": f"Bearer {DEMO_LIVE_KEY}"}
    ping = api.post("/api/v1/ping", components["AutoInsurancePingRequest"]["example"], **auth)
    assert ping.status_code == 200, ping.content
    body = components["AutoInsuranceDirectPostRequest"]["example"]
    direct = api.post("/api/v1/leads", body, **auth)
    assert direct.status_code == 200, direct.content


def test_the_schema_validates_without_a_warning(demo: None, tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "AutoInsurancePostLead" in out.read_text()


def test_the_keys_are_security_schemes_on_every_operation_but_health(api: Any) -> None:
    schema = schema_of(api)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerKey"] == {**schemes["bearerKey"], "type": "http", "scheme": "bearer"}
    assert {k: schemes["apiKeyHeader"][k] for k in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            expected = [] if path == "/api/v1/health" else [{"bearerKey": []}, {"apiKeyHeader": []}]
            assert operation.get("security", []) == expected, path


def test_error_responses_carry_real_examples_of_their_codes(api: Any) -> None:
    ping = schema_of(api)["paths"]["/api/v1/ping"]["post"]["responses"]
    examples = ping["422"]["content"]["application/json"]["examples"]
    codes = {e["value"]["error"]["code"] for e in examples.values()}
    assert {"invalid_lead", "pii_in_ping", "unknown_vertical"} <= codes
    assert "`pii_in_ping`" in ping["422"]["description"]
    assert "Retry-After" in ping["429"]["description"]


def test_the_documented_messages_are_what_the_api_answers(api: Any, demo: None) -> None:
    auth = {"format": "json", "HTTP_AUTHORIZATION": f"Bearer {DEMO_LIVE_KEY}"}
    answers = {
        "unauthenticated": api.post("/api/v1/ping", {}, format="json"),
        "pii_in_ping": api.post(
            "/api/v1/ping",
            {"vertical": "auto-insurance", "lead": {"zip": "75001", "email": "a@example.com"}},
            **auth,
        ),
        "ping_not_found": api.post(
            "/api/v1/post",
            {"ping_id": "0b7e3c58-5d1a-4b8e-9a39-2f6f3b2d9c11", "lead": {}},
            **auth,
        ),
    }
    for code, answer in answers.items():
        documented = ERRORS_BY_CODE[code]
        assert answer.status_code == documented.status
        assert answer.json()["error"]["code"] == code
        assert answer.json()["error"]["message"] == documented.message


# --- every code the source emits is documented ---------------------------------------

# Callables that answer an error, and the position of the code among their arguments
# (``_own_lead`` passes its own on to ApiError).
ERROR_RAISERS = {
    "ApiError": 1,
    "LeadError": 1,
    "error_body": 0,
    "ReturnRefused": 0,
    "_own_lead": 2,
    "DispositionRefused": 1,
}


def _text(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _text(node.body) + _text(node.orelse)
    return []


def emitted_error_codes() -> set[str]:
    """The constant codes given to the API's error raisers (and DRF's mapped codes)."""
    codes: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                index = ERROR_RAISERS.get(name or "")
                if index is not None and len(node.args) > index:
                    codes.update(_text(node.args[index]))
                if name == "ApiError" and len(node.args) > 1 and isinstance(node.args[1], ast.Name):
                    # ``ApiError(422, code, ...)`` with code chosen just above.
                    codes.update(_assigned(path, node.args[1].id))
            elif isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_DRF_CODES":
                for item in node.value.elts:  # type: ignore[union-attr]
                    codes.update(_text(item.elts[2]))
    return codes


def _assigned(path: Path, variable: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == variable:
            found.update(_text(node.value))
    return found


def emitted_reason_codes() -> set[str]:
    """The constant reasons the market gives: appended to ``reasons``, assigned to a
    ``reason``, or returned by the screening of a post (``screen_lead``)."""
    codes: set[str] = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "append":
                target = node.func.value  # type: ignore[attr-defined]
                if getattr(target, "attr", getattr(target, "id", "")) == "reasons":
                    codes.update(t for a in node.args for t in _text(a))
            elif isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "reason":
                codes.update(_text(node.value))
            elif isinstance(node, ast.FunctionDef) and node.name == "screen_lead":
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Return) and inner.value is not None:
                        codes.update(_text(inner.value))
    return {c for c in codes if c}


def test_the_scan_finds_the_codes_it_should() -> None:
    # If a refactor hides the codes from the scan, the tests below would pass on nothing.
    found = emitted_error_codes()
    assert {"pii_in_ping", "ping_expired", "unauthenticated", "test_lead"} <= found
    assert {"ping_not_found", "unsupported_media_type", "method_not_allowed"} <= found
    assert {"no_bids", "below_floor", "suppressed", "delivery_failed"} <= emitted_reason_codes()


def test_every_error_code_the_api_emits_is_documented(api: Any) -> None:
    documented = {e.code for e in ERROR_CODES}
    assert emitted_error_codes() <= documented, "explain it in exchange/api/codes.py"
    described = schema_of(api)["info"]["description"]
    guide = (ROOT / "docs" / "api.md").read_text()
    for code in documented:
        assert f"`{code}`" in described
        assert f"`{code}`" in guide, f"docs/api.md does not explain {code}"


def test_every_reason_code_the_market_gives_is_documented(api: Any) -> None:
    assert emitted_reason_codes() <= set(REASON_CODES), "explain it in exchange/api/codes.py"
    described = schema_of(api)["info"]["description"]
    guide = (ROOT / "docs" / "api.md").read_text()
    for code in REASON_CODES:
        assert f"`{code}`" in described
        assert f"`{code}`" in guide, f"docs/api.md does not explain {code}"
