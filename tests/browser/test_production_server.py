"""The production server as the docs start it (DEBUG off, collectstatic, granian) serves
the admin and the API docs with every asset, under the Content-Security-Policy.

The server runs in its own processes on a fresh SQLite file; Chromium loads the admin's
log-in page, logs in with a password and an authenticator code (two-factor is required
outside DEBUG), opens the index, then /api/docs/. A blocked script or style (CSP), a
missing asset or a wrong MIME type is a console error or a failed response: none may
happen.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from .conftest import assert_clean

BASE_DIR = Path(__file__).resolve().parents[2]
GRANIAN = Path(sys.executable).with_name("granian")
TOTP_KEY = "3132333435363738393031323334353637383930"  # hex, as django-otp stores it
USER, PASSWORD = "root", "a-long-pass-phrase-7"

SETUP = f"""
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice
user = get_user_model().objects.create_superuser("{USER}", "root@example.com", "{PASSWORD}")
TOTPDevice.objects.create(user=user, name="phone", key="{TOTP_KEY}", confirmed=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def production(tmp_path_factory: Any) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("production")
    harness = ("SWITCHYARD_TESTING", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in harness}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "exchange.settings",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "PII_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "CACHE_URL": f"filecache://{tmp / 'cache'}",
            "STATIC_ROOT": str(tmp / "static"),
            # Plain HTTP on the loopback: a browser would not send Secure cookies back.
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("PII_HASH_KEY", None)
    manage = [sys.executable, "manage.py"]
    for step in (["migrate", "--noinput"], ["collectstatic", "--noinput"], ["shell", "-c", SETUP]):
        done = subprocess.run(
            manage + step, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
    assert list((tmp / "static").glob("admin/css/base.*.css.gz")), "no hashed, compressed CSS"

    port = _free_port()
    log = (tmp / "granian.log").open("w")
    server = subprocess.Popen(
        [
            str(GRANIAN),
            "--interface",
            "wsgi",
            "exchange.wsgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"{url}/admin/login/", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, (tmp / "granian.log").read_text()
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def prod_page(chromium: Any, production: str) -> Iterator[Any]:
    context = chromium.new_context(base_url=production, viewport={"width": 1366, "height": 900})
    pg = context.new_page()
    problems: list[str] = []
    responses: list[Any] = []
    # A failed load is checked (with its URL) on the responses; its console copy names
    # none. Every other console error counts, CSP violations included.
    pg.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    pg.on("response", lambda r: responses.append(r))
    pg.problems = problems
    pg.responses = responses
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


def _assets_ok(pg: Any) -> None:
    for response in pg.responses:
        if response.url.endswith("/favicon.ico"):
            continue
        assert response.status < 400, f"HTTP {response.status}: {response.url}"
        kind = response.headers.get("content-type", "")
        if response.url.split("?")[0].endswith(".css"):
            assert kind.startswith("text/css"), f"{response.url} served as {kind}"
        if response.url.split("?")[0].endswith(".js"):
            assert "javascript" in kind, f"{response.url} served as {kind}"
    pg.responses.clear()


def _code() -> str:
    from django_otp.oath import totp

    return f"{totp(bytes.fromhex(TOTP_KEY)):06d}"


def test_the_admin_and_api_docs_load_every_asset_under_the_production_server(
    prod_page: Any,
) -> None:
    page = prod_page
    login = page.goto("/admin/login/")
    assert "script-src 'self'" in login.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    stylesheets = page.eval_on_selector_all("link[rel=stylesheet]", "ls => ls.map(l => l.href)")
    assert any("/static/admin/css/base." in href for href in stylesheets)  # hashed name
    # The admin's style sheet really applied (a style served as HTML would not be).
    assert page.eval_on_selector("#header", "h => getComputedStyle(h).display") == "flex"
    _assets_ok(page)
    assert_clean(page)

    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=otp_token]", _code())
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert page.url.endswith("/admin/")
    assert page.locator("#content-main .app-buyers").count() == 1
    page.wait_for_load_state("networkidle")
    _assets_ok(page)
    assert_clean(page)

    docs = page.goto("/api/docs/")
    assert "content-security-policy" in docs.headers
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Switchyard publisher API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag")
    page.wait_for_load_state("networkidle")
    _assets_ok(page)
    assert_clean(page)
