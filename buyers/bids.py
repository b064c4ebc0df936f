"""Which bids the exchange takes (SPEC §4): a positive amount with at most 2 decimals,
no higher than the campaign's ``max_bid``. Anything else is a ``bad_response`` before
it reaches a row, so an absurd bid can neither win nor overflow a money column."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .choices import Outcome, PricingModel
from .response_rules import Answer

CENT = Decimal("0.01")


def bid_problem(price: Decimal, max_bid: Decimal) -> str:
    """Why ``price`` is not a bid the exchange takes; empty when it is."""
    if not price.is_finite() or price <= 0:
        return f"bid {price} is not a positive amount"
    if price > max_bid:  # first: quantizing a huge number would overflow the context
        return f"bid {price} is above the campaign's max_bid {max_bid}"
    if price != price.quantize(CENT, rounding=ROUND_DOWN):
        return f"bid {price} has more than 2 decimals"
    return ""


def checked_bid(answer: Answer, campaign: Any) -> Answer:
    """``answer`` to a ping of ``campaign`` (a ``CampaignInfo``), its bid checked.

    A fixed-price campaign's bid is its price, so whatever price its answer carries is
    dropped rather than judged."""
    if answer.outcome != Outcome.ACCEPTED or answer.price is None:
        return answer
    if campaign.pricing_model == PricingModel.FIXED:
        return replace(answer, price=None)
    why = bid_problem(answer.price, campaign.max_bid)
    if why:
        return Answer(Outcome.BAD_RESPONSE, reason=why, status=answer.status)
    return replace(answer, price=answer.price.quantize(CENT))
