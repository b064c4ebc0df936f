"""Browser tests: Playwright driving Debian's Chromium against ``live_server``.

Playwright's own browser download cannot reach the internet here, so the tests use
``/usr/bin/chromium`` (``.ci/run`` installs it with apt when it is missing; a machine
without it skips these tests with that reason). Every page a test opens collects its
console errors and failed requests; ``assert_clean(page)`` fails on any of them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in the test's thread; Django's ORM refuses
# to run beside one unless told the test knows what it is doing.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser page whose relative URLs go to the live server; its console
    errors, page errors and failed or 4xx/5xx asset requests are kept on
    ``page.problems``."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1366, "height": 900}
    )
    pg = context.new_page()
    problems: list[str] = []
    # A failed request is reported by the "response" hook with its URL; the console's
    # copy of it names none, so it is left out here.
    pg.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # ERR_ABORTED is the browser cancelling a request because the page navigated away
    # (a form posted while a stylesheet was still loading), not a failure of the site.
    pg.on(
        "requestfailed",
        lambda r: (
            problems.append(f"request failed: {r.url} {r.failure}")
            if "ERR_ABORTED" not in (r.failure or "")
            else None
        ),
    )
    pg.on(
        "response",
        lambda r: (
            problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    pg.problems = problems
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def assert_clean(pg: Any) -> None:
    assert pg.problems == [], "\n".join(pg.problems)


def admin_login(pg: Any, username: str, password: str) -> None:
    """Log in through the admin's own form, as a person would."""
    pg.goto("/admin/login/")
    pg.fill("input[name=username]", username)
    pg.fill("input[name=password]", password)
    pg.click("input[type=submit]")
