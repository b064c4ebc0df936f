"""Indexes the rollup refresher reads the raw rows by: a refresh recomputes the last
hour or two, so each fact's time column must be a range of an index, not a scan of
every lead. They serve reporting's reads only, so reporting declares them (plain SQL
that PostgreSQL and SQLite both run) rather than the leads app's models."""

from __future__ import annotations

from django.db import migrations

INDEXES = [
    ("reporting_src_lead_posted_at", "leads_lead", "posted_at"),
    ("reporting_src_bid_created_at", "leads_bid", "created_at"),
    ("reporting_src_delivery_updated_at", "leads_delivery", "updated_at"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0002_operations"),
        ("leads", "0003_transaction_log_recent_calls_index"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, table, column in INDEXES
    ]
