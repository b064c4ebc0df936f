from __future__ import annotations

from . import ops_admin  # noqa: F401  (alerts and alert rules)
