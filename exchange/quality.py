"""A campaign's quality weight for ``expected_revenue`` routing.

weight = acceptance × non-return, each the mean of a Beta posterior: the counts of the
recent window (``CampaignQuality``) added to a prior worth a few observations, so a new
campaign starts near the prior and a campaign with a long record is judged on it. The
priors are those of a sound but unproven buyer: 4 accepted of 5 posts (0.80) and 9 kept
of 10 sales (0.90).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# Beta(alpha, beta) priors: (successes, failures) taken as already seen.
ACCEPTANCE_PRIOR = (Decimal(4), Decimal(1))
NON_RETURN_PRIOR = (Decimal(9), Decimal(1))
PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Quality:
    """The figures the ranking uses and the trace shows."""

    acceptance: Decimal
    non_return: Decimal
    delivered: int = 0
    sold: int = 0

    @property
    def weight(self) -> Decimal:
        return (self.acceptance * self.non_return).quantize(PLACES)

    def trace_fields(self, bid: Decimal) -> dict[str, str | int]:
        return {
            "bid": f"{bid:.2f}",
            "acceptance": f"{self.acceptance:.4f}",
            "non_return": f"{self.non_return:.4f}",
            "weight": f"{self.weight:.4f}",
            "expected": f"{expected_value(bid, self):.2f}",
            "posts_seen": self.delivered,
            "sales_seen": self.sold,
        }


def _mean(successes: int, trials: int, prior: tuple[Decimal, Decimal]) -> Decimal:
    alpha, beta = prior
    return ((successes + alpha) / (trials + alpha + beta)).quantize(PLACES)


def quality_from_counts(delivered: int, accepted: int, sold: int, returns: int) -> Quality:
    accepted = min(accepted, delivered)
    kept = max(sold - returns, 0)
    return Quality(
        acceptance=_mean(accepted, delivered, ACCEPTANCE_PRIOR),
        non_return=_mean(kept, max(sold, kept), NON_RETURN_PRIOR),
        delivered=delivered,
        sold=sold,
    )


# A campaign with no record yet.
PRIOR = quality_from_counts(0, 0, 0, 0)


def expected_value(bid: Decimal, quality: Quality) -> Decimal:
    """What a bid is worth once weighed by its campaign's quality."""
    return (bid * quality.weight).quantize(PLACES)
