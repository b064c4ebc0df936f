"""One attempt at one delivery: claim it, post the lead, log the call, then sell, retry or close.

The claim is a conditional UPDATE of the delivery's status, so of any number of
actors only one posts; buyers also get a stable Idempotency-Key per (lead, campaign)
for the rare re-post after a sender died mid-call.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from buyers.calls import (
    PreparedCall,
    deliver,
    log_row,
    prepare_call,
    read_response,
    simulated_answer,
)
from buyers.caps import Reservation, release, reserve
from buyers.choices import Outcome
from buyers.circuits import allows, probe_at, record_outcome
from buyers.compiled import CampaignInfo
from buyers.response_rules import Answer
from buyers.transport import OutboundResponse
from exchange.config_cache import Config
from plumbing.dependencies import retrying_write
from plumbing.money import money_label
from plumbing.pii import pii_values, scrub_text

from . import claims
from .callbacks import queue_callback
from .choices import DeliveryStatus, LeadStatus
from .ledger import money, record_sale
from .models import Delivery, Lead, TransactionLog
from .outbox import OPEN, backoff_seconds
from .post_checks import DUPLICATE_FOR_BUYER
from .transitions import move_lead

log = logging.getLogger(__name__)

WALKING = (LeadStatus.POSTING, LeadStatus.PENDING)


def _values_for_post(lead: Lead, delivery: Delivery) -> dict[str, Any]:
    values = {**lead.data, **lead.pii}
    values.update(
        {
            "lead.id": str(lead.id),
            "bid.reference": delivery.bid.reference if delivery.bid else "",
            "bid.price": str(delivery.price),
            "publisher.id": str(lead.publisher_id),
            "sub_id": lead.sub_id,
            "lead.created_at": lead.created_at.isoformat(),
        }
    )
    return values


def _backoff(campaign: CampaignInfo | None, attempt_number: int) -> float:
    """Seconds before retry number ``attempt_number``, by the campaign's steps."""
    steps = campaign.retry_backoff if campaign else settings.SWITCHYARD["RETRY_BACKOFF_SECONDS"]
    return backoff_seconds(steps, attempt_number)


def attempt(
    delivery: Delivery,
    lead: Lead,
    config: Config,
    *,
    max_ms: float | None = None,
    others_open: bool = True,
    claimed: bool = False,
) -> str:
    """One claimed attempt at one delivery, as read under the lead's lease; returns the
    outcome class. ``others_open``: the lead may have other open deliveries to skip
    when this one sells (False when the caller knows it has none). ``claimed``: the row
    was written claimed (``start_deliveries(claim_first=True)``)."""

    now = timezone.now()
    if not claimed:
        if not Delivery.claim(delivery.pk, now):
            return "not_claimed"
        # What the claim wrote, without reading the row back: only the lease holder
        # walks the lead, and it read this row under the lease.
        delivery.status, delivery.claimed_at, delivery.attempts = (
            DeliveryStatus.SENDING,
            now,
            delivery.attempts + 1,
        )
    campaign = config.campaigns.get(delivery.campaign_id)
    if campaign is None or not campaign.live or campaign.post is None:
        _close(delivery, DeliveryStatus.SKIPPED, "", "campaign no longer live")
        return "skipped"

    endpoint = campaign.post
    timeout_ms = endpoint.timeout_ms if max_ms is None else min(endpoint.timeout_ms, int(max_ms))
    values = _values_for_post(lead, delivery)
    prepared = prepare_call(
        endpoint,
        values,
        test=lead.is_test,
        idempotency_key=delivery.idempotency_key,
        timeout_ms=timeout_ms,
    )
    # Test leads use test URLs or simulated answers: they neither read nor move circuits.
    if not lead.is_test and not allows(endpoint.id):
        _log_attempt(lead, delivery, campaign, prepared, None, Answer.circuit_open())
        return _after_failure(delivery, campaign, Answer.circuit_open(), probe_at(endpoint.id))
    hashes = [] if lead.is_test else claims.person_hashes(lead.phone_hash, lead.email_hash)
    # The buyer's own window, claimed before the post: of two leads of one person racing
    # to the same buyer (from two verticals, say), only one is posted to it.
    if not claims.claim_for_buyer(lead.pk, campaign.buyer_id, hashes, campaign.dedupe_days, now):
        _close(delivery, DeliveryStatus.SKIPPED, "", DUPLICATE_FOR_BUYER)
        return "duplicate"
    reservation = None
    if not lead.is_test:
        reservation = _reserve(delivery, campaign, now)
        if reservation is None:
            claims.release(lead.pk, buyer_id=campaign.buyer_id)
            _close(delivery, DeliveryStatus.SKIPPED, "", "cap reached")
            return "cap_reached"

    sold = False
    try:
        prepared, response, answer = _post(lead, campaign, prepared)
        secrets = pii_values(lead.pii)  # every form of them: worked out once per attempt
        # The buyer's reason may quote the lead ("duplicate: Ed Lee"); it is stored masked.
        if answer.reason:
            answer = replace(answer, reason=scrub_text(answer.reason, secrets))
        # The buyer has answered: what it said must be written even through a dropped
        # database connection, or an accepted lead would be neither sold nor retried.
        retrying_write(
            lambda: _log_attempt(lead, delivery, campaign, prepared, response, answer, secrets),
            "logging a post",
        )
        if not lead.is_test and response is not None:
            record_outcome(endpoint.id, answer.outcome)  # after the log: the ratio reads it
        if answer.outcome in (Outcome.ACCEPTED, Outcome.SIMULATED):
            sold = retrying_write(
                lambda: _sell(
                    lead,
                    delivery,
                    campaign,
                    answer,
                    config,
                    buyer_claimed=bool(hashes) and campaign.dedupe_days > 0,
                    others_open=others_open,
                ),
                "recording a sale",
            )
            return answer.outcome
    finally:
        # Whatever went wrong, a lead not sold gives back what it took from the caps,
        # and the buyer's claim on the person.
        if not sold:
            if reservation is not None:
                retrying_write(
                    lambda: give_back(delivery.pk, reservation), "giving back a cap reservation"
                )
            if hashes:
                claims.release(lead.pk, buyer_id=campaign.buyer_id)
    return _after_failure(delivery, campaign, answer)


def _reserve(delivery: Delivery, campaign: CampaignInfo, now: datetime) -> Reservation | None:
    """Take from the caps and note it on the delivery, in one transaction: a sender that
    dies before it sells or gives back leaves the note, and the recovery of its delivery
    gives the reservation back (``give_back_interrupted``)."""

    def note(reservation: Reservation) -> None:
        Delivery.objects.filter(pk=delivery.pk).update(reservation=reservation.as_json())

    return reserve(campaign.caps, delivery.price, now, also=note)


def give_back(delivery_id: int, reservation: Reservation) -> None:
    """Give back ``reservation`` unless already done: clearing the delivery's note is
    the claim, so a sender and a recovery racing each other give it back once."""
    if not reservation.taken:
        return
    with transaction.atomic():
        if Delivery.objects.filter(pk=delivery_id, reservation__isnull=False).update(
            reservation=None
        ):
            release(reservation)


def give_back_interrupted(deliveries: Any) -> int:
    """Give back the reservations that the attempts of ``deliveries`` (a queryset of
    deliveries whose sender died) took and never sold nor released."""
    given = 0
    for pk, data in deliveries.filter(reservation__isnull=False).values_list("pk", "reservation"):
        give_back(pk, Reservation.from_json(data))
        given += 1
    return given


def _post(
    lead: Lead, campaign: CampaignInfo, prepared: PreparedCall
) -> tuple[PreparedCall, OutboundResponse | None, Answer]:
    """The HTTP call itself (or the simulated answer of a test lead without a test URL)."""
    endpoint = prepared.endpoint
    if lead.is_test and not endpoint.test_url:
        return prepared, None, simulated_answer(campaign)
    if prepared.request is None:
        answer = Answer.transport_error(prepared.error)
        if not prepared.retryable:  # a body this lead cannot give fails on every try
            answer = replace(answer, retryable=False)
        return prepared, None, answer
    # A 401 to an OAuth2 token is renewed and resent once by the transport.
    response = deliver(prepared.request)
    return prepared, response, read_response(endpoint, response)


def _log_attempt(
    lead: Lead,
    delivery: Delivery,
    campaign: CampaignInfo,
    prepared: PreparedCall,
    response: OutboundResponse | None,
    answer: Answer,
    secrets: list[str] | None = None,
) -> None:
    row = TransactionLog(
        lead=lead,
        delivery=delivery,
        is_test=lead.is_test,
        attempt=delivery.attempts,
        **log_row(
            prepared,
            response,
            answer,
            pii=pii_values(lead.pii) if secrets is None else secrets,
            kind="post",
            campaign_id=campaign.id,
        ),
    )
    # Not a column: the metrics label the call by buyer without a query.
    row.buyer_slug = campaign.buyer_slug  # type: ignore[attr-defined]
    row.save(force_insert=True)


def _after_failure(
    delivery: Delivery,
    campaign: CampaignInfo,
    answer: Answer,
    not_before: datetime | None = None,
) -> str:
    """Retry later (retryable outcomes only, within max_attempts) or close the delivery."""
    if answer.retryable and delivery.attempts < delivery.max_attempts:
        retry_at = timezone.now() + timedelta(seconds=_backoff(campaign, delivery.attempts))
        if not_before is not None:
            retry_at = max(retry_at, not_before)
        _close(delivery, DeliveryStatus.RETRY, answer.outcome, answer.reason, retry_at)
    elif answer.outcome == Outcome.REJECTED:
        _close(delivery, DeliveryStatus.REJECTED, answer.outcome, answer.reason)
    else:
        _close(delivery, DeliveryStatus.FAILED, answer.outcome, answer.reason)
    return answer.outcome


def _close(
    delivery: Delivery, status: str, outcome: str, reason: str, retry_at: datetime | None = None
) -> None:
    delivery.close(status, outcome, reason or outcome, retry_at)


def _sell(
    lead: Lead,
    delivery: Delivery,
    campaign: CampaignInfo,
    answer: Answer,
    config: Config,
    *,
    buyer_claimed: bool = False,
    others_open: bool = True,
) -> bool:
    """Mark the lead sold to this delivery's campaign, with its ledger row and callback.
    ``lead`` is left as sold in memory (``move_lead`` sets what it wrote)."""

    publisher = config.publishers[lead.publisher_id]
    payout = publisher.payout_for(delivery.price)
    now = timezone.now()
    result = {"lead_id": str(lead.id), "status": "sold", "price": money(payout)}
    with transaction.atomic():
        event = move_lead(
            lead,
            LeadStatus.SOLD,
            from_statuses=WALKING,
            note=f"sold at {money_label(payout)} payout",
            at=now,
            sold_campaign_id=campaign.id,
            price=delivery.price,
            payout=payout,
            sold_at=now,
            result=result,
            reasons=[],
            lease_until=None,  # a sold lead has nothing left to walk
        )
        if event is None:
            # Only the lease holder sells, so this means a lease outlived its holder.
            Delivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.ACCEPTED,
                last_outcome=answer.outcome,
                buyer_reference=answer.reference[:200],
                next_attempt_at=None,
                updated_at=now,
            )
            log.error(
                "lead %s accepted by campaign %s but no longer sellable", lead.pk, campaign.slug
            )
            return False
        # Sold: what was taken from the caps stays taken, and is no longer in flight.
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.ACCEPTED,
            last_outcome=answer.outcome,
            buyer_reference=answer.reference[:200],
            next_attempt_at=None,
            reservation=None,
            updated_at=now,
        )
        if others_open:
            lead.deliveries.filter(status__in=OPEN).update(
                status=DeliveryStatus.SKIPPED, reason="sold to another bidder", updated_at=now
            )
        if not lead.is_test:
            # savepoint=False: a second sale row fails this whole sale, as it should.
            record_sale(
                lead, buyer_id=campaign.buyer_id, remnant=campaign.fallback, savepoint=False
            )
            claims.mark_sold(lead, campaign.buyer_id, now, buyer_claimed=buyer_claimed)
        queue_callback(lead, event, callback_url=publisher.callback_url)
    delivery.status = DeliveryStatus.ACCEPTED
    return True
