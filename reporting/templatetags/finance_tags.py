"""Template filters for finance pages: money to the cent, rows as stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from reporting.statements import money as money_string
from reporting.statements import row_amount

register = template.Library()


@register.filter
def money(value: Any) -> str:
    """A sum to the cent, ``"1,234.50"`` style but without separators (copyable)."""
    if value is None or value == "":
        return ""
    return money_string(Decimal(value))


@register.filter
def amount(value: Any) -> str:
    """One ledger row's amount: to the cent, or 4 places when it has fractions of one."""
    return row_amount(Decimal(value))
