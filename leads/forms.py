"""Admin forms for finance's writes: an adjustment and a return. Each only reads and
checks input; the admin then calls the same ledger service the API uses."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms

from buyers.models import Buyer
from exchange.models import Publisher

from .choices import ReturnReason
from .models import Lead


class AdjustmentForm(forms.Form):
    party = forms.ChoiceField(
        choices=[("buyer", "A buyer (charge)"), ("publisher", "A publisher (payout)")],
        widget=forms.RadioSelect,
        initial="buyer",
    )
    buyer = forms.ModelChoiceField(Buyer.objects.order_by("name"), required=False)
    publisher = forms.ModelChoiceField(Publisher.objects.order_by("name"), required=False)
    amount = forms.DecimalField(
        max_digits=12,
        decimal_places=4,
        help_text="For a buyer: positive charges more, negative is a credit. For a "
        "publisher: positive pays more, negative is a debit.",
    )
    reason = forms.CharField(max_length=200, help_text="Shown on the party's statement.")
    dated = forms.DateTimeField(
        required=False,
        label="Concerns",
        help_text="Optional date the adjustment concerns. If its month is closed, the "
        "entry is booked at the start of the first open month instead.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        party = data.get("party")
        if party and not data.get(party):
            self.add_error(party, f"Choose the {party} this adjustment applies to.")
        if data.get("amount") == Decimal(0):
            self.add_error("amount", "An adjustment must move some money.")
        if data.get("reason") is not None and not data["reason"].strip():
            self.add_error("reason", "Say why.")
        return data


class ReturnForm(forms.Form):
    lead = forms.CharField(label="Lead id", help_text="The sold lead's id (a UUID).")
    reason = forms.ChoiceField(choices=ReturnReason.choices)
    note = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_lead(self) -> Lead:
        raw = self.cleaned_data["lead"].strip()
        try:
            lead = Lead.objects.select_related("sold_campaign__buyer").get(pk=uuid.UUID(raw))
        except (ValueError, Lead.DoesNotExist):
            raise forms.ValidationError("No lead with this id.") from None
        if lead.sold_campaign is None:
            raise forms.ValidationError("This lead was not sold, so it cannot be returned.")
        return lead
