"""Reporting's tables. Statements are sums of ledger rows and keep none; the
dashboard reads hourly rollups; alerts are stored with their acknowledgement."""

from __future__ import annotations

from .alert_models import Alert, AlertGate, AlertRule, AlertWatch
from .rollup_models import CallHour, ReasonHour, RollupState, TrafficHour

__all__ = [
    "Alert",
    "AlertGate",
    "AlertRule",
    "AlertWatch",
    "CallHour",
    "ReasonHour",
    "RollupState",
    "TrafficHour",
]
