"""Start the exchange as in production: migrate, configure, then the web server
(granian's WSGI interface, as the README's Production section runs it; or gunicorn
gthread with ``--server gunicorn``).

PostgreSQL when ``DATABASE_URL`` is set, else a fresh SQLite file in the run's temp
directory; ``DEBUG=0``; ``SECRET_KEY`` and ``PII_KEYS`` from the environment, else a
generated secret key and, for SQLite, a fresh PII key (for PostgreSQL, the
development key in ``.pii_key``, so reruns can read what earlier ones encrypted). The settings
module is ``bench.settings`` (production settings with circuit breakers held closed;
see there why).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from .procs import REPO_ROOT, BenchError, Child, Processes, free_port, wait_http


@dataclass
class RunningExchange:
    url: str
    key: str
    child: Child
    database: str  # "sqlite" or "postgresql"
    command: list[str]


def exchange_env(tmp: Path) -> dict[str, str]:
    """The environment of every exchange process of this run."""
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    if not env.get("PII_KEYS"):
        if env.get("DATABASE_URL"):
            # A database that outlives the run holds values encrypted by earlier runs
            # (publishers' callback secrets), which the exchange decrypts when it loads
            # its configuration: reuse the key development keeps for it.
            env["PII_KEYS"] = _development_pii_key()
        else:
            env["PII_KEYS"] = Fernet.generate_key().decode()
            env.pop("PII_HASH_KEY", None)  # derived from the fresh PII key
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.sqlite3'}")
    # No worker runs during the bench: tasks enqueued by the web tier (callbacks,
    # retries) go to an in-process broker instead of the repository's .broker folder.
    env.setdefault("CELERY_BROKER_URL", "memory://")
    return env


def _development_pii_key() -> str:
    """The key in ``.pii_key``, as exchange.settings makes and keeps it when DEBUG is on."""
    from cryptography.fernet import Fernet

    key_file = REPO_ROOT / ".pii_key"
    if not key_file.exists():
        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _manage(args: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchError(f"{what} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


SERVERS = ("granian", "gunicorn")


def server_command(server: str, port: int, *, workers: int, threads: int) -> list[str]:
    """The production web server's command line: ``workers`` processes of ``threads``
    request threads each."""
    if server == "granian":
        return [
            sys.executable, "-m", "granian", "--interface", "wsgi", "exchange.wsgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--blocking-threads", str(threads), "--backlog", "2048", "--no-log",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", "exchange.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
        "--keep-alive", "5", "--backlog", "2048", "--log-level", "warning",
    ]  # fmt: skip


def start_exchange(
    procs: Processes,
    tmp: Path,
    fleet_url: str,
    *,
    workers: int,
    threads: int,
    server: str = "granian",
    setup: tuple[str, ...] = ("-m", "bench.setup"),
) -> RunningExchange:
    """Migrate, configure (``setup``: the command that prints the key) and serve the
    exchange; returns once it answers HTTP."""
    env = exchange_env(tmp)
    database = "sqlite" if env["DATABASE_URL"].startswith("sqlite") else "postgresql"
    _manage(["manage.py", "migrate", "--noinput"], env, "manage.py migrate")
    output = _manage([*setup, "--fleet", fleet_url], env, " ".join(setup[1:]))
    key = orjson.loads(output.strip().splitlines()[-1])["key"]
    port = free_port()
    command = server_command(server, port, workers=workers, threads=threads)
    child = procs.start("exchange", command, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/api/v1/health", child, timeout_s=60)
    return RunningExchange(url, key, child, database, command)
