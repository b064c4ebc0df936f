from __future__ import annotations

from rest_framework import serializers

from leads.choices import ReturnReason
from leads.models import Lead


class ReturnRequest(serializers.Serializer):
    lead_id = serializers.UUIDField()
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class ReturnAnswer(serializers.Serializer):
    lead_id = serializers.UUIDField()
    status = serializers.CharField()
    credit = serializers.CharField(help_text='What is credited back to you, e.g. "20.00".')


class BoughtLead(serializers.ModelSerializer):
    lead_id = serializers.UUIDField(source="id")
    campaign = serializers.CharField(source="sold_campaign.slug")
    vertical = serializers.CharField(source="vertical.slug")
    price = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    reference = serializers.SerializerMethodField()

    class Meta:
        model = Lead
        fields = ["lead_id", "vertical", "campaign", "status", "price", "sold_at", "reference"]

    def get_reference(self, lead: Lead) -> str:
        accepted = [d for d in lead.deliveries.all() if d.status == "accepted"]
        return accepted[0].buyer_reference if accepted else ""
