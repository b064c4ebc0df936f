from __future__ import annotations

from rest_framework import serializers

from leads.choices import DispositionEvent, ReturnReason
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


class DispositionRequest(serializers.Serializer):
    lead_id = serializers.UUIDField(help_text="A lead you bought.")
    event = serializers.ChoiceField(choices=DispositionEvent.choices)
    at = serializers.DateTimeField(required=False, help_text="When it happened; default: now.")
    value = serializers.CharField(
        required=False, help_text='What it was worth, text with 2 decimals at most: "120.00".'
    )


class PostbackBody(DispositionRequest):
    ts = serializers.IntegerField(help_text="Unix time of signing, in seconds.")
    sig = serializers.CharField(help_text="Hex HMAC-SHA256 of the other fields (see docs).")
    nonce = serializers.CharField(required=False)


class DispositionAnswer(serializers.Serializer):
    id = serializers.IntegerField()
    lead_id = serializers.UUIDField()
    event = serializers.ChoiceField(choices=DispositionEvent.choices)
    at = serializers.DateTimeField()
    value = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=["recorded", "already_recorded"])


# --- the publisher API --------------------------------------------------------------


class PingRequest(serializers.Serializer):
    vertical = serializers.SlugField(help_text="The vertical's slug, e.g. auto-insurance.")
    sub_id = serializers.CharField(required=False, max_length=100)
    lead = serializers.DictField(help_text="Ping-stage fields only: no personal data.")


class PingAnswer(serializers.Serializer):
    ping_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["accepted", "rejected"])
    price = serializers.CharField(required=False, help_text='Your payout, e.g. "12.50".')
    expires_at = serializers.DateTimeField(required=False)
    reasons = serializers.ListField(child=serializers.CharField(), required=False)


class PostRequest(serializers.Serializer):
    ping_id = serializers.UUIDField()
    lead = serializers.DictField(help_text="All fields of the lead, personal data included.")
    mode = serializers.ChoiceField(choices=["sync", "async"], required=False, default="sync")


class DirectPostRequest(serializers.Serializer):
    vertical = serializers.SlugField()
    sub_id = serializers.CharField(required=False, max_length=100)
    lead = serializers.DictField()
    mode = serializers.ChoiceField(choices=["sync", "async"], required=False, default="sync")


class PostAnswer(serializers.Serializer):
    lead_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["sold", "rejected", "pending"])
    price = serializers.CharField(required=False)
    reasons = serializers.ListField(child=serializers.CharField(), required=False)


class TimelineEntry(serializers.Serializer):
    status = serializers.CharField()
    at = serializers.DateTimeField()
    note = serializers.CharField()


class LeadDetail(serializers.Serializer):
    lead_id = serializers.UUIDField()
    vertical = serializers.CharField()
    sub_id = serializers.CharField()
    status = serializers.CharField()
    test = serializers.BooleanField()
    price = serializers.CharField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    posted_at = serializers.DateTimeField(allow_null=True)
    sold_at = serializers.DateTimeField(allow_null=True)
    timeline = TimelineEntry(many=True)
    trace = serializers.ListField(child=serializers.DictField())
