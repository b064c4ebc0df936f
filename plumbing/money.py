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


CURRENCY_SIGN = "$"  # the exchange trades in US dollars (invoices say USD)


def money_label(value: Decimal | None) -> str:
    """``money_text`` with the currency, for a person: ``$1,234.50``, ``−$5.00``, ``—``."""
    if value is None:
        return "—"
    sign = "−" if value < 0 else ""
    return f"{sign}{CURRENCY_SIGN}{money_text(abs(value))}"
