from __future__ import annotations

from . import admin_figures, ops_admin  # noqa: F401  (24 h figures; alerts and rules)
