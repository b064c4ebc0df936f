"""State changes of buyer configuration, and the checks that guard them.

The checks read a vertical's field schema so the admin and the config-file import
refuse the same mistakes with the same words: an unknown field, personal data in a
ping, a rule the compilers would reject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import QuerySet

from plumbing.fields import STANDARD_FIELDS, FieldSpec, Stage, vertical_schema

from .choices import BodyFormat
from .filters import validate_filters
from .formats import encode_body
from .mapping import validate_mapping
from .models import Campaign, Endpoint, MappingVersion
from .pricing import modifier_problems as _modifier_problems
from .response_rules import validate_response_rules
from .schedule import validate_schedule

if TYPE_CHECKING:
    from exchange.models import Vertical  # a layer above: the type only

Schema = Mapping[str, FieldSpec]

# --- checks -----------------------------------------------------------------------------------


def schema_of(vertical: Vertical) -> dict[str, FieldSpec]:
    """The field schema of a saved vertical: the standard fields plus its own."""
    return vertical_schema(vertical.fields.all())


def schema_from_fields(fields: Sequence[Mapping[str, Any]]) -> dict[str, FieldSpec]:
    """The schema a vertical will have once ``fields`` (name, type, stage) are saved."""
    schema = {spec.name: spec for spec in STANDARD_FIELDS}
    for field in fields:
        base = schema.get(field["name"])
        schema[field["name"]] = FieldSpec(
            name=field["name"],
            type=field.get("type", "string"),
            stage=field.get("stage", Stage.PING),
            pii=base.pii if base else False,
        )
    return schema


def field_lists() -> dict[str, list[dict[str, Any]]]:
    """Every vertical's fields by vertical id, for the admin's field pickers: name, type,
    stage, choices and whether it is personal data."""
    vertical_model = Campaign._meta.get_field("vertical").related_model  # exchange's
    lists: dict[str, list[dict[str, Any]]] = {}
    for vertical in vertical_model.objects.prefetch_related("fields"):  # type: ignore[union-attr]
        lists[str(vertical.pk)] = [
            {
                "name": spec.name,
                "type": str(spec.type),
                "stage": str(spec.stage),
                "choices": list(spec.choices),
                "pii": spec.pii,
            }
            for spec in schema_of(vertical).values()
        ]
    return lists


def filter_problems(filters: Any, schema: Schema) -> list[str]:
    """What is wrong with a campaign's filters for a vertical of this schema."""
    return validate_filters(filters, known_fields=schema.keys())


def modifier_problems(modifiers: Any, schema: Schema) -> list[str]:
    """What is wrong with a fixed-price campaign's price modifiers for this schema."""
    return _modifier_problems(modifiers, known_fields=schema.keys())


def schedule_problems(schedule: Any) -> list[str]:
    """What is wrong with a campaign's schedule."""
    return validate_schedule(schedule)


def mapping_problems(rules: Any, schema: Schema, stage: str) -> list[str]:
    """What is wrong with an endpoint's mapping; ``stage`` is the endpoint kind.

    A ping carries ping-stage fields only (exchange.auction.ping_values), so a ping
    mapping reading a post-stage field is refused even when that field is not
    personal data.
    """
    if stage != Stage.PING:
        return validate_mapping(rules, known_fields=schema.keys(), stage=stage)
    ping_fields = [name for name, spec in schema.items() if spec.stage == Stage.PING]
    problems = validate_mapping(rules, known_fields=ping_fields, stage=stage)
    # Problems that only the narrower field list finds are post-stage fields: say so.
    broad = set(validate_mapping(rules, known_fields=schema.keys(), stage=stage))
    post_fields = [name for name, spec in schema.items() if spec.stage != Stage.PING]
    return [p if p in broad else _post_stage_wording(p, post_fields) for p in problems]


def _post_stage_wording(problem: str, post_fields: list[str]) -> str:
    for name in post_fields:
        unknown = f"unknown field {name!r}"
        if unknown in problem:
            return problem.replace(unknown, f"{name!r} is a post-stage field: never in a ping")
    return problem


def target_problems(rules: Any, body_format: str) -> list[str]:
    """Targets an XML body cannot carry: every part of ``to`` becomes an element name."""
    if body_format != BodyFormat.XML or not isinstance(rules, list):
        return []
    problems = []
    for number, rule in enumerate(rules, 1):
        to = rule.get("to") if isinstance(rule, Mapping) else None
        if not isinstance(to, str):
            continue  # validate_mapping reports it
        for part in to.replace("/", ".").split("."):
            try:
                encode_body({part: ""}, BodyFormat.XML)
            except ValueError:
                problems.append(f"rule {number} ({to}): {part!r} cannot be an XML element name")
                break
    return problems


def response_problems(rules: Any) -> list[str]:
    """What is wrong with an endpoint's response rules."""
    return validate_response_rules(rules)


def header_problems(headers: Any) -> list[str]:
    """Custom headers must be a table of names to text values."""
    if not isinstance(headers, Mapping):
        return ['headers must be a table such as {"X-Source": "switchyard"}']
    return [
        f"header {name!r}: the value must be text, got {type(value).__name__}"
        for name, value in headers.items()
        if not isinstance(name, str) or not isinstance(value, str)
    ]


# --- changes ----------------------------------------------------------------------------------


@transaction.atomic
def save_endpoint(endpoint: Endpoint, *, changed_by: Any = None) -> MappingVersion | None:
    """Save an endpoint; when its mapping or response rules differ from the last
    recorded version, record a new ``MappingVersion`` by ``changed_by``."""
    endpoint.save()
    return record_mapping_version(endpoint, changed_by=changed_by)


@transaction.atomic
def record_mapping_version(endpoint: Endpoint, *, changed_by: Any = None) -> MappingVersion | None:
    """A new version of the endpoint's rules if they changed since the last one."""
    # Locking the endpoint row serialises two saves racing for the next number.
    Endpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    last = endpoint.versions.order_by("-number").first()
    mapping, response = endpoint.mapping or [], endpoint.response or {}
    if last is not None and last.mapping == mapping and last.response == response:
        return None
    user = changed_by if changed_by is not None and changed_by.is_authenticated else None
    return MappingVersion.objects.create(
        endpoint=endpoint,
        number=(last.number + 1) if last else 1,
        mapping=mapping,
        response=response,
        changed_by=user,
    )


@transaction.atomic
def copy_campaign(original: Campaign, *, slug: str = "", name: str = "") -> Campaign:
    """A paused copy of a campaign with its endpoints, rules and caps, under a new slug
    (``<slug>-copy``, ``-copy-2``... when none is given). Credentials are shared, as the
    buyer's endpoints already share them."""
    slug = slug or free_campaign_slug(f"{original.slug}-copy")
    copy = Campaign.objects.get(pk=original.pk)
    copy.pk = copy.id = None
    copy._state.adding = True
    copy.slug, copy.name = slug, name or f"Copy of {original.name or original.slug}"
    copy.is_active, copy.paused_reason, copy.paused_at = False, "", None
    copy.save()
    for endpoint in original.endpoints.all():
        endpoint.pk = endpoint.id = None
        endpoint._state.adding = True
        endpoint.campaign = copy
        save_endpoint(endpoint)
    for cap in original.caps.all():
        cap.pk = cap.id = None
        cap._state.adding = True
        cap.campaign = copy
        cap.save()
    return copy


def free_campaign_slug(base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever no campaign has yet."""
    taken = set(Campaign.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, n = base[:50], 2
    while slug in taken:
        suffix = f"-{n}"
        slug, n = base[: 50 - len(suffix)] + suffix, n + 1
    return slug


@transaction.atomic
def resume_campaigns(campaigns: QuerySet[Campaign]) -> int:
    """Clear the pause the exchange put on these campaigns; returns how many resumed.
    Each is saved on its own, so its change history records the resume."""
    count = 0
    for campaign in campaigns.exclude(paused_reason="").select_for_update(of=("self",)):
        campaign.paused_reason = ""
        campaign.paused_at = None
        campaign.save(update_fields=["paused_reason", "paused_at", "updated_at"])
        count += 1
    return count
