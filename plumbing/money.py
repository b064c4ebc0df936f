"""Money as people read it (the stored Decimal keeps its places; this is for eyes)."""

from __future__ import annotations

from decimal import Decimal

CENT = Decimal("0.01")


def money_text(value: Decimal | None) -> str:
    """An amount as people read it: thousands separated, two decimal places, and the
    sub-cent digits only when there are some (ledger amounts keep four places)."""
    if value is None:
        return "-"
    cents = value.quantize(CENT)
    shown = cents if cents == value else value.normalize()
    return f"{shown:,f}"
