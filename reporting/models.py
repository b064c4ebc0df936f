"""Reporting keeps no tables of its own yet: statements are sums of ledger rows."""
