"""Applying a checked plan to the database, matched by slug, noting every change.

Runs inside the import's transaction: a problem found here (a key that belongs to
another publisher) refuses the whole file like a problem found while parsing.
Verticals, publishers, buyers and campaigns missing from the file are left alone;
within an object the file describes, its fields, caps and endpoints are exactly the
file's.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from buyers.models import Buyer, Campaign, Cap, Credential, Endpoint
from buyers.services import save_endpoint
from exchange.models import ApiKey, Publisher, Vertical, VerticalField, hash_key
from exchange.services import create_api_key

from .changes import CHANGED, CREATED, DELETED, Change, assign, decimal_text
from .plan import (
    AuthPlan,
    BuyerPlan,
    CampaignPlan,
    CapPlan,
    EndpointPlan,
    KeyPlan,
    Plan,
    PublisherPlan,
    VerticalPlan,
)


class Applier:
    """One import's writes; ``problems`` and ``warnings`` collect what it found."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self._credentials: dict[int, dict[str, Credential]] = {}
        self._synced_credentials: set[int] = set()

    def apply(self, plan: Plan) -> list[Change]:
        changes = [self._vertical(v) for v in plan.verticals]
        changes += [self._publisher(p) for p in plan.publishers]
        changes += [self._buyer(b) for b in plan.buyers]
        return changes

    # --- verticals ----------------------------------------------------------------------------

    def _vertical(self, plan: VerticalPlan) -> Change:
        vertical, change = _upsert(
            Vertical, {"slug": plan.slug}, plan.values, f"vertical {plan.slug}"
        )
        current = {f.name: f for f in vertical.fields.all()} if change.status != CREATED else {}
        for position, values in enumerate(plan.fields):
            name = values["name"]
            field_change = Change(f"field {name}")
            _save(
                current.pop(name, None),
                VerticalField,
                {"vertical": vertical},
                {**values, "position": position},
                field_change,
            )
            change.children.append(field_change)
        for name, field in current.items():
            field.delete()
            change.children.append(Change(f"field {name}", DELETED))
        return change

    # --- publishers ---------------------------------------------------------------------------

    def _publisher(self, plan: PublisherPlan) -> Change:
        publisher, change = _upsert(
            Publisher, {"slug": plan.slug}, plan.values, f"publisher {plan.slug}"
        )
        keys = list(publisher.keys.all()) if change.status != CREATED else []
        for key in plan.keys:
            change.children.append(self._key(publisher, key, keys))
        return change

    def _key(self, publisher: Publisher, plan: KeyPlan, keys: list[ApiKey]) -> Change:
        if plan.raw:
            label = f"key {plan.name} ({plan.raw[:16]}…)"
            existing = next((k for k in keys if k.key_hash == hash_key(plan.raw)), None)
            if existing is None:
                other = ApiKey.objects.filter(key_hash=hash_key(plan.raw)).first()
                if other is not None:
                    self.problems.append(
                        f"{plan.path}.key: this key already belongs to "
                        f"{other.publisher or other.buyer}"
                    )
                    return Change(label)
                create_api_key(
                    kind=plan.kind, name=plan.name, publisher=publisher, raw_key=plan.raw
                )
                return Change(label, CREATED)
        else:
            label = f"key {plan.name} ({plan.prefix}…)"
            live = (k for k in keys if k.prefix == plan.prefix and k.revoked_at is None)
            existing = next(live, None)
            if existing is None:
                self.warnings.append(
                    f"{plan.path}: no key {plan.prefix}… here, and a key's full text is never "
                    "exported: give it as key (or key_env) to create it"
                )
                return Change(label)
        change = Change(label)
        if existing.revoked_at is not None:
            self.problems.append(
                f"{plan.path}: key {existing.prefix}… was revoked; it cannot come back"
            )
        elif assign(existing, {"name": plan.name}, change):
            existing.save(update_fields=["name"])
        return change

    # --- buyers, campaigns, endpoints ----------------------------------------------------------

    def _buyer(self, plan: BuyerPlan) -> Change:
        buyer, change = _upsert(Buyer, {"slug": plan.slug}, plan.values, f"buyer {plan.slug}")
        current = list(buyer.caps.all()) if change.status != CREATED else []
        change.children += _sync_caps({"buyer": buyer}, current, plan.caps)
        existing = Campaign.objects.filter(slug__in=[c.slug for c in plan.campaigns])
        by_slug = {c.slug: c for c in existing.prefetch_related("endpoints__credential", "caps")}
        verticals = {
            v.slug: v
            for v in Vertical.objects.filter(slug__in={c.vertical for c in plan.campaigns})
        }
        for campaign in plan.campaigns:
            change.children.append(
                self._campaign(
                    buyer, by_slug.get(campaign.slug), verticals[campaign.vertical], campaign
                )
            )
        return change

    def _campaign(
        self, buyer: Buyer, campaign: Campaign | None, vertical: Vertical, plan: CampaignPlan
    ) -> Change:
        change = Change(f"campaign {plan.slug}", major=True)
        if campaign is not None:
            for name, new in (("buyer", buyer), ("vertical", vertical)):
                old = getattr(campaign, name)
                if old.pk != new.pk:
                    change.details.append(f"{name}: {old.slug} → {new.slug}")
                    setattr(campaign, name, new)
        campaign = _save(
            campaign,
            Campaign,
            {"slug": plan.slug, "buyer": buyer, "vertical": vertical},
            plan.values,
            change,
            force=bool(change.details),
        )
        if change.status == CREATED:
            endpoints: dict[str, Endpoint] = {}
            caps: list[Cap] = []
        else:
            endpoints = {e.kind: e for e in campaign.endpoints.all()}
            caps = list(campaign.caps.all())
        change.children += _sync_caps({"campaign": campaign}, caps, plan.caps)
        for kind in ("ping", "post"):
            endpoint, wanted = endpoints.get(kind), plan.endpoints.get(kind)
            if wanted is not None:
                change.children += self._endpoint(campaign, buyer, endpoint, wanted)
            elif endpoint is not None:
                endpoint.delete()
                change.children.append(Change(f"{kind} endpoint", DELETED))
        return change

    def _endpoint(
        self, campaign: Campaign, buyer: Buyer, endpoint: Endpoint | None, plan: EndpointPlan
    ) -> list[Change]:
        changes = []
        credential = None
        if plan.auth is not None:
            credential, credential_change = self._credential(buyer, plan.auth)
            changes.append(credential_change)
        change = Change(f"{plan.kind} endpoint")
        values = {**plan.values, "credential": credential}
        if endpoint is None:
            endpoint = Endpoint(campaign=campaign, kind=plan.kind, **values)
            change.status = CREATED
            save_endpoint(endpoint)
        elif _assign_relation(endpoint, values, change):
            # Through the service, so a new mapping or response leaves a version behind.
            save_endpoint(endpoint)
        changes.insert(0, change)
        return changes

    def _credential(self, buyer: Buyer, plan: AuthPlan) -> tuple[Credential, Change]:
        if buyer.pk not in self._credentials:
            self._credentials[buyer.pk] = {c.name: c for c in buyer.credentials.all()}
        known = self._credentials[buyer.pk]
        change = Change(f"credential {plan.name} ({plan.values['type']})")
        credential = known.get(plan.name)
        if credential is not None and credential.pk in self._synced_credentials:
            return credential, change  # already brought in line by an earlier endpoint
        values = dict(plan.values)
        if plan.secret is not None:
            values["secret"] = plan.secret
        credential = _save(
            credential, Credential, {"buyer": buyer, "name": plan.name}, values, change
        )
        known[plan.name] = credential
        self._synced_credentials.add(credential.pk)
        if credential.type != "none" and not credential.secret and not credential.secret_env:
            self.warnings.append(
                f"{plan.path}: no secret stored for credential {plan.name!r}: "
                "calls will fail until one is given"
            )
        return credential, change


def _upsert(
    model: type[models.Model], match: dict[str, Any], values: dict[str, Any], label: str
) -> tuple[Any, Change]:
    instance = model._default_manager.filter(**match).first()
    change = Change(label, major=True)
    return _save(instance, model, match, values, change), change


def _save(
    instance: Any,
    model: type[models.Model],
    fixed: dict[str, Any],
    values: dict[str, Any],
    change: Change,
    *,
    force: bool = False,
) -> Any:
    """Create ``instance`` or bring it to ``values``; saves only what moved."""
    if instance is None:
        instance = model(**fixed, **values)
        instance.save()
        change.status = CREATED
        return instance
    if assign(instance, values, change) or force:
        instance.save()
        if change.status != CREATED:
            change.status = CHANGED
    return instance


def _assign_relation(endpoint: Endpoint, values: dict[str, Any], change: Change) -> bool:
    credential = values.pop("credential")
    moved = assign(endpoint, values, change)
    if endpoint.credential_id != (credential.pk if credential else None):
        old = endpoint.credential.name if endpoint.credential else "none"
        change.details.append(f"credential: {old} → {credential.name if credential else 'none'}")
        change.status = CHANGED
        endpoint.credential = credential
        moved = True
    return moved


def _cap_label(period: str, max_leads: int | None, max_spend: Any) -> str:
    limits = []
    if max_leads is not None:
        limits.append(f"{max_leads} leads")
    if max_spend is not None:
        limits.append(f"{decimal_text(max_spend)} spend")
    return f"cap {' and '.join(limits)} per {period}"


def _sync_caps(owner: dict[str, Any], current: list[Cap], wanted: list[CapPlan]) -> list[Change]:
    """Caps are matched by period and by what they limit, so an edited limit keeps its
    usage counters; caps the file drops are deleted."""
    changes = []
    remaining = list(current)
    for plan in wanted:
        match = next(
            (
                cap
                for cap in remaining
                if cap.period == plan.period
                and (cap.max_leads is None) == (plan.max_leads is None)
                and (cap.max_spend is None) == (plan.max_spend is None)
            ),
            None,
        )
        change = Change(_cap_label(plan.period, plan.max_leads, plan.max_spend))
        if match is not None:
            remaining.remove(match)
        _save(
            match,
            Cap,
            owner,
            {"period": plan.period, "max_leads": plan.max_leads, "max_spend": plan.max_spend},
            change,
        )
        changes.append(change)
    for cap in remaining:
        cap.delete()
        changes.append(Change(_cap_label(cap.period, cap.max_leads, cap.max_spend), DELETED))
    return changes
