"""Shapes of the publisher API, for the OpenAPI schema and its docs."""

from __future__ import annotations

from rest_framework import serializers


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


class ErrorBody(serializers.Serializer):
    error = serializers.DictField()


class Health(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    checks = serializers.DictField()
