"""Issuing and voiding invoices: numbered without gaps, frozen once issued.

An invoice is issued from a buyer's statement for a period whose months are all
closed, so its figures can never change underneath it; its lines are copied. A
number is taken from the year's sequence row under a row lock in the same
transaction as the invoice, so concurrent issues get consecutive numbers and a
failed issue gives its number back. Voiding issues a credit note; nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from itertools import islice
from typing import Any

from django.db import transaction
from django.utils import timezone

from buyers.models import Buyer
from leads.periods import exchange_zone, is_closed, next_month

from .models import PREFIXES, DocumentKind, DocumentSequence, Invoice, InvoiceLine
from .statements import Period, buyer_statement, cents, lines

BATCH = 5000


class InvoiceRefused(Exception):
    """An invoice that cannot be issued or voided, with a message for a person."""


def months_of(period: Period) -> list[date]:
    months, month = [], period.first.replace(day=1)
    while month <= period.last:
        months.append(month)
        month = next_month(month)
    return months


def issue_invoice(buyer: Buyer, period: Period, *, user: Any = None) -> Invoice:
    """Issue ``buyer``'s invoice for ``period``: its statement's totals and lines,
    frozen, under the year's next number. Refused unless every month of the period is
    closed and no live invoice of the buyer already covers part of it."""
    open_months = [m for m in months_of(period) if not is_closed(m)]
    if open_months:
        names = ", ".join(f"{m:%Y-%m}" for m in open_months)
        raise InvoiceRefused(f"Close {names} first: invoices are issued for closed periods.")
    with transaction.atomic():
        # The buyer's row serializes its invoices, so two overlapping ones cannot both
        # pass the check below.
        buyer = Buyer.objects.select_for_update().get(pk=buyer.pk)
        overlapping = Invoice.objects.filter(
            buyer=buyer,
            kind=DocumentKind.INVOICE,
            credit_note__isnull=True,
            period_from__lte=period.last,
            period_to__gte=period.first,
        ).first()
        if overlapping is not None:
            raise InvoiceRefused(
                f"{overlapping.number} already covers {overlapping.period_from} to "
                f"{overlapping.period_to}; void it first to reissue."
            )
        statement = buyer_statement(buyer, period.start, period.end)
        net = cents(statement.net)
        if not net:
            # A document for nothing would still take the year's next number for good.
            raise InvoiceRefused(
                f"Nothing to invoice: {buyer.name}'s net from {period.first} to "
                f"{period.last} is 0.00."
            )
        invoice = _issue(
            DocumentKind.INVOICE,
            user,
            buyer_id=buyer.pk,
            buyer_name=buyer.name,
            period_from=period.first,
            period_to=period.last,
            sales_count=statement.sales_count,
            gross=cents(statement.sales_amount),
            returns_count=statement.returns_count,
            returns=cents(statement.returns_amount),
            adjustments_count=statement.adjustments_count,
            adjustments=cents(statement.adjustments_amount),
            net=net,
        )
        rows = lines("buyer", buyer, period.start, period.end).values_list(  # type: ignore[misc]
            "pk", "created_at", "lead_id", "kind", "reason", "amount"
        )
        _copy(invoice, rows.iterator(chunk_size=BATCH))
    return invoice


def void_invoice(invoice: Invoice, *, user: Any = None) -> Invoice:
    """Void ``invoice`` by issuing its credit note (the same lines, negated)."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.kind != DocumentKind.INVOICE:
            raise InvoiceRefused(f"{invoice.number} is a credit note: it cannot be voided.")
        if Invoice.objects.filter(credit_for=invoice).exists():
            raise InvoiceRefused(f"{invoice.number} is already voided.")
        credit = _issue(
            DocumentKind.CREDIT_NOTE,
            user,
            buyer_id=invoice.buyer_id,
            buyer_name=invoice.buyer_name,
            period_from=invoice.period_from,
            period_to=invoice.period_to,
            currency=invoice.currency,
            sales_count=invoice.sales_count,
            gross=-invoice.gross,
            returns_count=invoice.returns_count,
            returns=-invoice.returns,
            adjustments_count=invoice.adjustments_count,
            adjustments=-invoice.adjustments,
            net=-invoice.net,
            credit_for=invoice,
        )
        rows = invoice.lines.order_by("pk").values_list(
            "entry_id", "date", "lead_id", "kind", "description", "amount"
        )
        _copy(credit, rows.iterator(chunk_size=BATCH), sign=-1)
    return credit


def _next_number(kind: DocumentKind, now: Any) -> tuple[int, int, str]:
    """Take the next number of ``kind`` for ``now``'s year (call inside a transaction)."""
    year = now.astimezone(exchange_zone()).year
    # get_or_create copes with two first-of-the-year issues racing to create the row;
    # the row lock then orders every issue of the year.
    DocumentSequence.objects.get_or_create(kind=kind, year=year)
    counter = DocumentSequence.objects.select_for_update().get(kind=kind, year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return year, counter.last, f"{PREFIXES[kind]}-{year}-{counter.last:04d}"


def _issue(kind: DocumentKind, user: Any, **figures: Any) -> Invoice:
    """Create a document of ``kind`` under its year's next number (inside a transaction)."""
    now = timezone.now()
    year, sequence, number = _next_number(kind, now)
    return Invoice.objects.create(
        kind=kind,
        number=number,
        year=year,
        sequence=sequence,
        issued_at=now,
        issued_by=user,
        **figures,
    )


def _copy(document: Invoice, rows: Iterable[tuple], *, sign: int = 1) -> None:
    """Copy ``rows`` (entry id, date, lead id, kind, description, amount) as the
    document's lines, their amounts times ``sign``, in batches."""
    iterator: Iterator[InvoiceLine] = (
        InvoiceLine(
            invoice=document,
            entry_id=entry_id,
            date=at,
            lead_id=lead_id,
            kind=kind,
            description=description,
            amount=sign * amount,
        )
        for entry_id, at, lead_id, kind, description, amount in rows
    )
    while batch := list(islice(iterator, BATCH)):
        InvoiceLine.objects.bulk_create(batch)
