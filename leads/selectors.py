"""Read helpers for the admin's lead screens: finding a lead, and telling its price story.

Finding never decrypts: a phone number or an email is normalised as the API normalises
it and looked up by the same keyed hash the lead stores (``Lead.phone_hash`` and
``email_hash``); a partial id is a range of the primary key, so it stays an index scan.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Q

from plumbing.admin_views import local_time
from plumbing.money import money_label
from plumbing.pii import email_hash, normalize_phone, phone_hash

from .choices import DeliveryStatus, LedgerKind
from .models import Bid, Delivery, Lead, LedgerEntry

MIN_ID_PREFIX = 4
_HEX = re.compile(r"[0-9a-f]+")


def lead_lookup(term: str, prefix: str = "") -> Q:
    """The leads a person means by ``term``: an email, a phone number (any usual way of
    writing it), a lead id or its first characters, or a sub_id. ``prefix`` reaches the
    lead through a relation (``"lead__"``)."""
    term = term.strip()
    if not term:
        return Q()
    if "@" in term:
        return Q(**{f"{prefix}email_hash": email_hash(term)})
    query = Q(**{f"{prefix}sub_id": term})
    digits = term.replace("-", "").lower()
    if len(digits) >= MIN_ID_PREFIX and len(digits) <= 32 and _HEX.fullmatch(digits):
        # Every id starting with these characters lies between the two padded ends.
        low, high = uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
        query |= Q(**{f"{prefix}id__gte": low, f"{prefix}id__lte": high})
    e164 = normalize_phone(term)
    if e164:
        query |= Q(**{f"{prefix}phone_hash": phone_hash(e164)})
    return query


def _campaign(obj: Bid | Delivery | LedgerEntry) -> str:
    campaign = obj.campaign
    if campaign is None:
        return "an unknown campaign"
    return f"{campaign.slug} ({campaign.buyer.name})"


def price_story(
    lead: Lead, bids: Iterable[Bid], deliveries: Iterable[Delivery], ledger: Iterable[LedgerEntry]
) -> list[str]:
    """What happened to the lead's price, step by step, from its bids, its waterfall of
    deliveries and its ledger rows: why it sold below its best bid, or did not sell."""
    ranked = sorted((b for b in bids if b.rank), key=lambda b: b.rank or 0)
    lines: list[str] = []
    best = ranked[0] if ranked else None
    how = "Pinged" if lead.offer_price is not None else "Posted directly"
    if best is None:
        reasons = ", ".join(lead.reasons or []) or "no bids"
        lines.append(f"{how}: no campaign bid ({reasons}).")
    else:
        offer = (
            f"; {money_label(lead.offer_price)} offered to the publisher"
            if lead.offer_price is not None
            else ""
        )
        others = f", {len(ranked) - 1} lower bid(s) behind it" if len(ranked) > 1 else ""
        lines.append(
            f"{how}: best bid {money_label(best.price)} by campaign {_campaign(best)}"
            f"{offer}{others}."
        )
    sold = None
    for delivery in sorted(deliveries, key=lambda d: d.rank):
        lines.append(_delivery_line(delivery))
        if delivery.status == DeliveryStatus.ACCEPTED:
            sold = delivery
    if sold is not None and best is not None and best.price and sold.price < best.price:
        lines.append(
            f"Sold {money_label(best.price - sold.price)} below the best bid: "
            f"the campaign(s) ranked above {sold.campaign.slug if sold.campaign else 'it'} "
            "did not take the lead, so it went to the next in the waterfall."
        )
    if lead.payout is not None and lead.offer_price is not None and lead.payout != lead.offer_price:
        lines.append(
            f"The publisher earns {money_label(lead.payout)}, not the "
            f"{money_label(lead.offer_price)} offered: the payout follows the price paid."
        )
    lines.extend(_ledger_line(entry) for entry in ledger if entry.kind != LedgerKind.SALE)
    return lines


def _delivery_line(delivery: Delivery) -> str:
    who = f"#{delivery.rank} {_campaign(delivery)} at {money_label(delivery.price)}"
    reason = delivery.reason or delivery.last_outcome
    if delivery.status == DeliveryStatus.ACCEPTED:
        return f"{who}: accepted the post — sold at {money_label(delivery.price)}."
    if delivery.status == DeliveryStatus.REJECTED:
        return f"{who}: rejected the post ({reason or 'no reason given'})."
    if delivery.status == DeliveryStatus.FAILED:
        return (
            f"{who}: failed after {delivery.attempts} attempt(s) ({reason or 'no answer'}); "
            "the lead can be replayed."
        )
    if delivery.status == DeliveryStatus.SKIPPED:
        return f"{who}: not posted ({delivery.reason or 'skipped'})."
    when = f", next attempt {local_time(delivery.next_attempt_at)}"
    return f"{who}: {delivery.get_status_display().lower()}{when}."


def _ledger_line(entry: LedgerEntry) -> str:
    when = local_time(entry.created_at)
    if entry.kind == LedgerKind.RETURN:
        return (
            f"Returned {when}: the buyer is credited {money_label(-entry.charge)} and the "
            f"publisher debited {money_label(-entry.payout)}"
            + (f" ({entry.reason})." if entry.reason else ".")
        )
    amounts = [
        f"{party} {money_label(amount)}"
        for party, amount in (("buyer", entry.charge), ("publisher", entry.payout))
        if amount != Decimal(0)
    ]
    return f"Adjustment {when}: {', '.join(amounts)}" + (
        f" ({entry.reason})." if entry.reason else "."
    )
