"""Safe defaults: DEBUG off unless set, production settings that pass
``check --deploy``, a Content-Security-Policy on every page."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parents[2]

# The production environment docs/security.md documents (behind a TLS-terminating proxy).
PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "exchange.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "CACHE_URL": "rediscache://127.0.0.1:6379/1",
}


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    # As a server is started: without the test harness's variables (the browser tests
    # set DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rightly refuses).
    harness = ("DEBUG", "SWITCHYARD_TESTING", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if k not in harness}
    base.update(
        {
            "DJANGO_SETTINGS_MODULE": "exchange.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "PII_KEYS": Fernet.generate_key().decode(),
        }
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


SHOW = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.ADMIN_2FA, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
    "s.STORAGES['staticfiles']['BACKEND'].rsplit('.', 1)[-1])"
)


def test_debug_is_off_unless_set_and_production_defaults_follow() -> None:
    done = run(SHOW)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "False",
        "required",
        "True",
        "True",
        "CompressedManifestStaticFilesStorage",
    ]


def test_development_asks_for_less() -> None:
    done = run(SHOW, DEBUG="true")
    assert done.stdout.split()[:4] == ["True", "optional", "False", "False"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADMIN_2FA", "sometimes"),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto"),
        ("SECURE_HSTS_SECONDS", "a year"),
    ],
)
def test_a_malformed_security_setting_stops_the_start(name: str, value: str) -> None:
    done = run("import django; django.setup()", **{name: value})
    assert done.returncode != 0
    assert f"{name} is malformed" in done.stderr


def test_check_deploy_is_clean_with_the_documented_production_settings() -> None:
    done = run(
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        **PRODUCTION,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "no issues" in done.stdout


@pytest.mark.django_db
def test_every_page_carries_the_content_security_policy(client: Any) -> None:
    for url in ("/admin/login/", "/api/docs/", "/api/v1/nothing-here"):
        policy = client.get(url)["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy, url
        assert "unsafe-inline" not in policy


@pytest.mark.django_db
def test_the_api_docs_load_their_start_up_script_from_a_url(client: Any) -> None:
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page and "<style>" not in page
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()
