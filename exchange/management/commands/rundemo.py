"""Serve the whole demo: simulated buyers, a Celery worker with beat on the embedded
broker, and the web server; Ctrl-C stops them all."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from exchange.models import Vertical
from exchange.posting_instructions import curl_lines
from plumbing.fields import vertical_schema

from .load_demo import DEMO_ADMIN, DEMO_LIVE_KEY, DEMO_TEST_KEY, DEMO_VERTICAL


class Command(BaseCommand):
    help = "Run the demo exchange (web, worker, beat, simulated buyers)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args: Any, addr: str, **options: Any) -> None:
        python = sys.executable
        sim_port = settings.SWITCHYARD["SIMULATOR_URL"].rsplit(":", 1)[-1].strip("/")
        commands = [
            [python, "manage.py", "simulate_buyers", "--port", sim_port],
            [
                python,
                "-m",
                "celery",
                "-A",
                "exchange",
                "worker",
                "-B",
                "--pool",
                "threads",
                "--concurrency",
                "4",
                "--loglevel",
                "WARNING",
            ],
            [python, "manage.py", "runserver", addr, "--noreload"],
        ]
        children = [subprocess.Popen(cmd) for cmd in commands]

        def stop(*_: Any) -> None:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            sys.exit(0)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self._wait_ready(f"http://{addr}/api/v1/health")
        self.stdout.write(banner(addr))
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        self.stderr.write("a demo process stopped; shutting down")
        stop()

    def _wait_ready(self, url: str) -> None:
        for _ in range(100):
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)


def banner(addr: str) -> str:
    """What ``make run`` prints once the demo answers. The curl lines carry a new
    fictional person each time (``exchange.posting_instructions``), so they sell on this
    and every later ``make run``, not only the first."""
    base = f"http://{addr}"
    vertical = Vertical.objects.prefetch_related("fields").get(slug=DEMO_VERTICAL)
    lines = curl_lines(base, vertical.slug, vertical_schema(vertical.fields.all()), DEMO_LIVE_KEY)
    return f"""
Switchyard demo is running.

  Admin:          {base}/admin/   login {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}
  API docs:       {base}/api/docs/
  Publisher key:  {DEMO_LIVE_KEY}   (test key: {DEMO_TEST_KEY})

Ping:
  {lines["ping"]}

Ping, then post the full lead with the ping_id of its answer:
  {lines["post"]}

Direct post (both at once):
  {lines["direct_post"]}

Posting instructions for a publisher's developer: {base}/admin/ > Publishers > Acme Media.
Ctrl-C stops everything.
"""
