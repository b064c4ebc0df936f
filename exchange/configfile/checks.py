"""Checks across a whole config file: unique slugs, rules against each vertical's
schema, and credentials that several endpoints share."""

from __future__ import annotations

from typing import Any

from buyers import services as checks
from buyers.mail import email_problems
from exchange.models import Vertical
from plumbing.fields import FieldSpec

from .plan import AuthPlan, Plan
from .reader import Reader, at


def check_plan(r: Reader, plan: Plan) -> None:
    """Note every problem that needs more than one object of the file to see."""
    _unique_slugs(r, plan)
    _check_rules(r, plan)
    _shared_credentials(r, plan)


def _unique_slugs(r: Reader, plan: Plan) -> None:
    groups: list[tuple[str, list[Any]]] = [
        ("vertical", plan.verticals),
        ("publisher", plan.publishers),
        ("buyer", plan.buyers),
        ("campaign", [c for b in plan.buyers for c in b.campaigns]),
    ]
    for what, items in groups:
        seen: dict[str, str] = {}
        for item in items:
            if item.slug in seen:
                r.fail(item.path, f"{what} {item.slug!r} is already defined at {seen[item.slug]}")
            seen.setdefault(item.slug, item.path)


def _check_rules(r: Reader, plan: Plan) -> None:
    """Filters, schedules, mappings and response rules, against each vertical's schema."""
    schemas: dict[str, dict[str, FieldSpec]] = {
        v.slug: checks.schema_from_fields(v.fields) for v in plan.verticals
    }
    wanted = {c.vertical for b in plan.buyers for c in b.campaigns} - schemas.keys()
    for vertical in Vertical.objects.filter(slug__in=wanted).prefetch_related("fields"):
        schemas[vertical.slug] = checks.schema_of(vertical)
    for campaign in (c for b in plan.buyers for c in b.campaigns):
        schema = schemas.get(campaign.vertical)
        if schema is None:
            r.fail(
                at(campaign.path, "vertical"),
                f"no vertical {campaign.vertical!r} here or in the file",
            )
            continue
        filters = campaign.values["filters"]
        r.rule_problems(
            at(campaign.path, "filters"), checks.filter_problems(filters, schema), filters
        )
        pricing_path = at(campaign.path, "pricing")
        for problem in checks.modifier_problems(campaign.values.get("price_modifiers"), schema):
            r.fail(at(pricing_path, "modifiers"), problem)
        if campaign.values.get("fallback") and campaign.values.get("pricing_model") != "fixed":
            r.fail(at(campaign.path, "fallback"), "a fallback campaign buys at a fixed price")
        schedule_path = at(campaign.path, "schedule")
        r.rule_problems(schedule_path, checks.schedule_problems(campaign.values["schedule"]))
        for endpoint in campaign.endpoints.values():
            for problem in email_problems(
                endpoint.kind, endpoint.values["format"], endpoint.values["url"] or ""
            ):
                r.fail(at(endpoint.path, "format"), problem)
            mapping = endpoint.values["mapping"]
            problems = checks.mapping_problems(mapping, schema, endpoint.kind)
            problems += checks.target_problems(mapping, endpoint.values["format"])
            r.rule_problems(at(endpoint.path, "mapping"), problems, mapping)
            response = endpoint.values["response"]
            r.rule_problems(at(endpoint.path, "response"), checks.response_problems(response))
            r.rule_problems(
                at(endpoint.path, "headers"), checks.header_problems(endpoint.values["headers"])
            )


def _shared_credentials(r: Reader, plan: Plan) -> None:
    """Endpoints naming the same credential of a buyer must describe it alike."""
    for buyer in plan.buyers:
        seen: dict[str, AuthPlan] = {}
        for campaign in buyer.campaigns:
            for endpoint in campaign.endpoints.values():
                auth = endpoint.auth
                if auth is None:
                    continue
                first = seen.setdefault(auth.name, auth)
                differs = first.values != auth.values or (
                    None not in (first.secret, auth.secret) and first.secret != auth.secret
                )
                if first is not auth and differs:
                    r.fail(
                        auth.path,
                        f"credential {auth.name!r} is described differently at {first.path}",
                    )
