from __future__ import annotations

from typing import Any

from aiohttp import web
from django.core.management.base import BaseCommand

from buyers.simulator import SIM_BUYERS, build_app


class Command(BaseCommand):
    help = "Serve the simulated buyers (demo and integration tryouts)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        self.stdout.write(f"simulated buyers {', '.join(SIM_BUYERS)} on http://{host}:{port}")
        web.run_app(build_app(), host=host, port=port, print=None)
