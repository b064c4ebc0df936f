"""Settings, read from the environment (and a ``.env`` file) through django-environ.

Every variable has a safe embedded default for development; a malformed value stops
the start with a message naming the variable.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from plumbing.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


_TESTING = bool(os.environ.get("SWITCHYARD_TESTING"))


def _read(name: str, cast, default):
    try:
        return env(name, cast=cast, default=default)
    except (ValueError, TypeError, ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"{name} is malformed: {exc}") from exc


# Off unless set: a server started without configuration must not show tracebacks.
# `make run` and the test settings turn it on for development.
DEBUG = _read("DEBUG", bool, False)
SECRET_KEY = _read("SECRET_KEY", str, "dev-insecure-switchyard-secret-key-change-me")
if not DEBUG and SECRET_KEY.startswith("dev-insecure"):
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = _read("ALLOWED_HOSTS", list, ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = _read("CSRF_TRUSTED_ORIGINS", list, [])

INSTALLED_APPS = [
    # The admin with two-factor log-in and throttling (exchange/admin_site.py).
    "exchange.apps.SwitchyardAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "exchange",
    "buyers",
    "leads",
    "reporting",
]

MIDDLEWARE = [
    # Under /api/v1/: a saturated process answers 503 at once (exchange.api.shedding).
    "exchange.api.shedding.LoadShedMiddleware",
    "plumbing.logs.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # A staff user who still owes a second factor sees only the set-up page.
    "exchange.admin_site.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Change history rows name the admin user who made the change.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Under /api/: a database or broker failure is a JSON 503, not a 500 (SPEC §3).
    "exchange.api.errors.DependencyErrorMiddleware",
]

if not DEBUG:
    # The app serves its own static files outside DEBUG (runserver does in DEBUG):
    # straight after the security headers, before sessions and the rest.
    MIDDLEWARE.insert(2, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "exchange.urls"
WSGI_APPLICATION = "exchange.wsgi.application"
ASGI_APPLICATION = "exchange.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

try:
    DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
except (ValueError, ImproperlyConfigured) as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Write transactions queue on a lock file instead of polling (exchange/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "plumbing.sqlite"
    # Tests run on an in-memory database, as Django does for its own SQLite engine.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", ":memory:")
    # WAL lets the web server, the worker and beat read while one of them writes.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
# Reuse connections across requests: opening one (and, for SQLite, running its PRAGMAs)
# on every ping would cost more than the ping's own writes.
DATABASES["default"].setdefault("CONN_MAX_AGE", _read("CONN_MAX_AGE", int, 60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

try:
    CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://switchyard")}
except (ValueError, ImproperlyConfigured) as exc:
    raise ImproperlyConfigured(f"CACHE_URL is malformed: {exc}") from exc

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The admin writes instants as 2026-12-02 13:07:48 (exchange/formats/en/formats.py).
FORMAT_MODULE_PATH = ["exchange.formats"]

STATIC_URL = "static/"
STATIC_ROOT = Path(_read("STATIC_ROOT", str, str(BASE_DIR / "static")))
# Outside DEBUG the app serves its own static files (WhiteNoise), compressed and with
# content hashes in their names so browsers may cache them for ever; this needs
# `collectstatic` before the server starts (`make run` and the production steps do it).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security ---------------------------------------------------------------------------
# Behind TLS set SECURE_SSL_REDIRECT and SECURE_HSTS_SECONDS (docs/security.md lists the
# production values that make `manage.py check --deploy` clean). Cookies are Secure by
# default outside DEBUG; a deployment on plain HTTP must say so explicitly.
SECURE_SSL_REDIRECT = _read("SECURE_SSL_REDIRECT", bool, False)
SECURE_HSTS_SECONDS = _read("SECURE_HSTS_SECONDS", int, 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _read("SECURE_HSTS_INCLUDE_SUBDOMAINS", bool, False)
SECURE_HSTS_PRELOAD = _read("SECURE_HSTS_PRELOAD", bool, False)
SESSION_COOKIE_SECURE = _read("SESSION_COOKIE_SECURE", bool, not DEBUG)
CSRF_COOKIE_SECURE = _read("CSRF_COOKIE_SECURE", bool, not DEBUG)
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https when a proxy that always sets (and
# never passes on) that header terminates TLS; empty: requests are what they are.
_proxy_ssl_header = _read("SECURE_PROXY_SSL_HEADER", list, [])
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2 or not _proxy_ssl_header[0].startswith("HTTP_"):
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER is malformed: give the META name and the value that "
            "means HTTPS, e.g. HTTP_X_FORWARDED_PROTO,https"
        )
    SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header[0], _proxy_ssl_header[1])
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Flash messages live in the session, never in a cookie of their own.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Content-Security-Policy on every response (django-csp): scripts, styles, fonts and
# fetches from this site only, no inline script or style. Images may also be data: URLs,
# which the admin's and Swagger UI's style sheets use for their icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Two-factor log-in to the admin (django-otp TOTP). "required": superusers and Finance
# must have a confirmed authenticator to use the admin; "optional": nobody must, but
# anyone who set one up enters its code at log-in. Required unless DEBUG.
ADMIN_2FA = _read("ADMIN_2FA", str, "optional" if DEBUG else "required").strip().lower()
if ADMIN_2FA not in ("required", "optional"):
    raise ImproperlyConfigured("ADMIN_2FA is malformed: it must be 'required' or 'optional'")
OTP_TOTP_ISSUER = _read("OTP_TOTP_ISSUER", str, "Switchyard")
# Failed admin log-ins allowed per username and client address in the window.
LOGIN_FAILURE_LIMIT = _read("LOGIN_FAILURE_LIMIT", int, 5)
LOGIN_FAILURE_WINDOW_SECONDS = _read("LOGIN_FAILURE_WINDOW_SECONDS", int, 900)

# Change history (django-simple-history): an admin can restore an older version.
SIMPLE_HISTORY_REVERT_DISABLED = False
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# Admin URL fields read "example.com" as https://example.com, Django 6's default. The
# setting is transitional (Django warns once at start that it is): delete it on Django 6.
FORMS_URLFIELD_ASSUME_HTTPS = True

# --- Personal data -----------------------------------------------------------------
# PII_KEYS: comma-separated Fernet keys, newest first. The newest encrypts; all decrypt,
# so a key can be rotated in and the old one removed after `manage.py rotate_pii_keys`.


def _development_pii_key() -> str:
    key_file = BASE_DIR / ".pii_key"
    if not key_file.exists():
        from cryptography.fernet import Fernet

        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


PII_KEYS = _read("PII_KEYS", list, [])
if not PII_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("PII_KEYS must be set when DEBUG is off")
    PII_KEYS = [_development_pii_key()]
for _key in PII_KEYS:
    try:
        if len(base64.urlsafe_b64decode(_key.encode())) != 32:
            raise ValueError
    except ValueError as exc:
        raise ImproperlyConfigured(
            "PII_KEYS is malformed: each key must be a Fernet key (32 url-safe base64 bytes); "
            'make one with python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"'
        ) from exc
# The lookup-hash key must outlive rotations of PII_KEYS, so it is its own setting;
# by default it is derived from the oldest encryption key.
PII_HASH_KEY = _read("PII_HASH_KEY", str, "") or f"hash:{PII_KEYS[-1]}"
PII_RETENTION_DAYS = _read("PII_RETENTION_DAYS", int, 365)
if PII_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("PII_RETENTION_DAYS is malformed: it must be 1 or more")

# --- Exchange behaviour ---------------------------------------------------------------
SWITCHYARD = {
    "PING_TTL_SECONDS": _read("PING_TTL_SECONDS", int, 120),
    "POST_DEADLINE_MS": _read("POST_DEADLINE_MS", int, 8000),
    "MAX_BODY_BYTES": _read("MAX_BODY_BYTES", int, 64 * 1024),
    "CONFIG_CACHE_SECONDS": _read("CONFIG_CACHE_SECONDS", float, 1.0),
    # A thread per process re-reads the configuration revision and the circuit states,
    # so requests do not (the test suite reads them in the request, deterministically).
    "REFRESH_IN_BACKGROUND": _read("REFRESH_IN_BACKGROUND", bool, not _TESTING),
    "DUPLICATE_WINDOW_DAYS": _read("DUPLICATE_WINDOW_DAYS", int, 30),
    "OUTBOUND_MAX_CONNECTIONS": _read("OUTBOUND_MAX_CONNECTIONS", int, 200),
    "RETRY_BACKOFF_SECONDS": [2, 4, 8, 16, 32],
    # Pings' call logs and circuit counts are written in batches this often (0: at once).
    "CALL_LOG_FLUSH_MS": _read("CALL_LOG_FLUSH_MS", float, 0 if _TESTING else 50),
    # On PostgreSQL, whether a ping's lead and bids wait for the WAL flush on commit.
    "PING_DURABLE_COMMIT": _read("PING_DURABLE_COMMIT", bool, False),
    # A ping stops waiting for a buyer at its timeout; the transport loop drops the call
    # this much later, so closing it does not compete with the answer being written.
    "CUT_OFF_GRACE_MS": _read("CUT_OFF_GRACE_MS", float, 50),
    # A ping still waiting for buyers this long before the last one's own timeout ranks the
    # bids it has and writes them ahead, committed then if no late bid comes (0: off).
    "SETTLE_EARLY_MS": _read("SETTLE_EARLY_MS", float, 5),
    # Load shedding (exchange.api.shedding): API requests running at once per process,
    # and how long a request may have queued before it (X-Request-Start); 0: no limit.
    "API_MAX_IN_FLIGHT": _read("API_MAX_IN_FLIGHT", int, 32),
    "API_QUEUE_DEADLINE_MS": _read("API_QUEUE_DEADLINE_MS", int, 1000),
    "SIMULATOR_URL": _read("SIMULATOR_URL", str, "http://127.0.0.1:8001"),
    # Circuit breakers (buyers.circuits): open after this many failures in a row, or when
    # failures make up CIRCUIT_FAILURE_RATIO of at least CIRCUIT_MIN_CALLS calls within
    # CIRCUIT_WINDOW_SECONDS; stay open CIRCUIT_COOL_DOWN_SECONDS before one probe.
    "CIRCUIT_FAILURES": _read("CIRCUIT_FAILURES", int, 5),
    "CIRCUIT_FAILURE_RATIO": _read("CIRCUIT_FAILURE_RATIO", float, 0.5),
    "CIRCUIT_MIN_CALLS": _read("CIRCUIT_MIN_CALLS", int, 20),
    "CIRCUIT_WINDOW_SECONDS": _read("CIRCUIT_WINDOW_SECONDS", int, 60),
    "CIRCUIT_COOL_DOWN_SECONDS": _read("CIRCUIT_COOL_DOWN_SECONDS", int, 30),
    # How often a process re-reads an endpoint's failure ratio, and the circuits' states.
    "CIRCUIT_RATIO_CHECK_SECONDS": _read("CIRCUIT_RATIO_CHECK_SECONDS", float, 1.0),
    "CIRCUIT_STATE_SECONDS": _read("CIRCUIT_STATE_SECONDS", float, 1.0),
    # Auto-pause (leads.autopause, on beat): a campaign's pings over this window, and the
    # fewest calls that make its timeout rate or latency count.
    "AUTOPAUSE_WINDOW_SECONDS": _read("AUTOPAUSE_WINDOW_SECONDS", int, 300),
    "AUTOPAUSE_MIN_CALLS": _read("AUTOPAUSE_MIN_CALLS", int, 20),
    # Compliance (docs/compliance.md). The verifier of TrustedForm certificates and Jornaya
    # LeadiDs: a dotted class path (exchange.consent.FormatVerifier checks the format;
    # exchange.consent.HttpVerifier asks CONSENT_VERIFIER_URL, within the timeout).
    "CONSENT_VERIFIER": _read("CONSENT_VERIFIER", str, "exchange.consent.FormatVerifier"),
    "CONSENT_VERIFIER_URL": _read("CONSENT_VERIFIER_URL", str, ""),
    "CONSENT_VERIFIER_TIMEOUT_MS": _read("CONSENT_VERIFIER_TIMEOUT_MS", int, 2000),
    # Lead-quality signals (exchange.quality_signals): the velocity window, and the class that
    # answers phone line types and IP locations (the default knows none).
    "QUALITY_VELOCITY_MINUTES": _read("QUALITY_VELOCITY_MINUTES", int, 10),
    "QUALITY_LOOKUP": _read("QUALITY_LOOKUP", str, "exchange.quality_signals.NoLookup"),
    # How long inbound (publisher API) and transaction (buyer call) logs are kept; the
    # daily purge deletes older rows, and erases personal data past PII_RETENTION_DAYS.
    "INBOUND_LOG_RETENTION_DAYS": _read("INBOUND_LOG_RETENTION_DAYS", int, 30),
    "TRANSACTION_LOG_RETENTION_DAYS": _read("TRANSACTION_LOG_RETENTION_DAYS", int, 90),
}

# The WSGI process's GIL switch interval (exchange.wsgi): request threads wait on the
# transport loop's thread, and a shorter interval lets a finished fan-out answer at once.
GIL_SWITCH_INTERVAL_MS = _read("GIL_SWITCH_INTERVAL_MS", float, 0.5)
if GIL_SWITCH_INTERVAL_MS <= 0:
    raise ImproperlyConfigured("GIL_SWITCH_INTERVAL_MS is malformed: it must be positive")

for _name in (
    "CONSENT_VERIFIER_TIMEOUT_MS",
    "INBOUND_LOG_RETENTION_DAYS",
    "TRANSACTION_LOG_RETENTION_DAYS",
    "CALL_LOG_FLUSH_MS",
    "CUT_OFF_GRACE_MS",
    "OUTBOUND_MAX_CONNECTIONS",
    "SETTLE_EARLY_MS",
    "API_MAX_IN_FLIGHT",
    "API_QUEUE_DEADLINE_MS",
):
    if SWITCHYARD[_name] < 0:
        raise ImproperlyConfigured(f"{_name} is malformed: it must not be negative")
if not 1 <= SWITCHYARD["QUALITY_VELOCITY_MINUTES"] <= 1440:
    raise ImproperlyConfigured("QUALITY_VELOCITY_MINUTES is malformed: from 1 to 1440 minutes")

# --- Outbound safety and runtime guards (docs/security.md) ------------------------------
# OUTBOUND_ALLOWED_NETWORKS: CIDR ranges the exchange may call although they are loopback,
# private, link-local... (empty: none). The demo and the test suite open 127.0.0.0/8.
OUTBOUND_ALLOWED_NETWORKS = _read("OUTBOUND_ALLOWED_NETWORKS", list, [])
# TRUSTED_PROXIES: CIDR ranges of the load balancers in front of the web tier; only from
# them is X-Forwarded-For believed (the client is the rightmost hop not among them).
TRUSTED_PROXIES = _read("TRUSTED_PROXIES", list, [])
for _name in ("OUTBOUND_ALLOWED_NETWORKS", "TRUSTED_PROXIES"):
    for _net in globals()[_name]:
        try:
            ipaddress.ip_network(_net.strip(), strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{_name} is malformed: {_net!r} is not a CIDR range like 10.0.0.0/8"
            ) from exc
# The highest bid a campaign takes unless its own max_bid says otherwise.
MAX_BID = _read("MAX_BID", str, "10000.00")
try:
    if not 0 < Decimal(MAX_BID) < 10**8:
        raise ValueError
except (ArithmeticError, ValueError) as exc:
    raise ImproperlyConfigured(
        "MAX_BID is malformed: a positive amount below 100000000, e.g. 10000.00"
    ) from exc

# --- REST framework / OpenAPI ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "exchange.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchyard publisher API",
    "DESCRIPTION": "Real-time ping/post lead exchange. Send your key as "
    "`Authorization: Bearer <key>` or `X-API-Key: <key>` (Authorize, above). Each "
    "vertical has its own lead fields: see the request bodies' shapes per vertical.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No validator badge: it would load an image from swagger.io, outside the CSP.
    "SWAGGER_UI_SETTINGS": {
        "deepLinking": True,
        "validatorUrl": None,
        "persistAuthorization": True,
    },
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Security schemes, per-vertical lead schemas, error and reason codes.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "exchange.api.openapi.postprocess",
    ],
}

# --- Operations (docs/operations.md) ------------------------------------------------------
# The dashboard's hourly rollups are recomputed this often by beat, reaching back this far
# before the last refresh for rows committed later than they are stamped.
ROLLUP_REFRESH_SECONDS = _read("ROLLUP_REFRESH_SECONDS", int, 15)
ROLLUP_SLACK_SECONDS = _read("ROLLUP_SLACK_SECONDS", int, 300)
# Alerts: checked this often; one per subject per ALERT_QUIET_MINUTES; sent by email to
# ALERT_EMAILS and as JSON to ALERT_WEBHOOK_URL, signed with ALERT_WEBHOOK_SECRET.
ALERT_CHECK_SECONDS = _read("ALERT_CHECK_SECONDS", int, 15)
ALERT_QUIET_MINUTES = _read("ALERT_QUIET_MINUTES", int, 30)
ALERT_EMAILS = _read("ALERT_EMAILS", list, [])
ALERT_WEBHOOK_URL = _read("ALERT_WEBHOOK_URL", str, "")
ALERT_WEBHOOK_SECRET = _read("ALERT_WEBHOOK_SECRET", str, "")
ALERT_WEBHOOK_TIMEOUT_SECONDS = _read("ALERT_WEBHOOK_TIMEOUT_SECONDS", float, 5.0)
DEFAULT_FROM_EMAIL = _read("DEFAULT_FROM_EMAIL", str, "switchyard@localhost")
# The sender of leads delivered by e-mail (buyers.mail); empty: DEFAULT_FROM_EMAIL.
LEAD_EMAIL_FROM = _read("LEAD_EMAIL_FROM", str, "")
EMAIL_BACKEND = _read(
    "EMAIL_BACKEND",
    str,
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
# /metrics answers only `Authorization: Bearer $METRICS_TOKEN` (empty: /metrics is off).
METRICS_TOKEN = _read("METRICS_TOKEN", str, "")
# Dispositions (docs/dispositions.md): a signed postback's ts may be this far from now;
# expected_revenue routing weighs bids by each campaign's posts and returns over this window.
POSTBACK_MAX_AGE_SECONDS = _read("POSTBACK_MAX_AGE_SECONDS", int, 300)
QUALITY_WINDOW_DAYS = _read("QUALITY_WINDOW_DAYS", int, 14)
for _name in (
    "ROLLUP_REFRESH_SECONDS",
    "ALERT_CHECK_SECONDS",
    "ALERT_QUIET_MINUTES",
    "POSTBACK_MAX_AGE_SECONDS",
    "QUALITY_WINDOW_DAYS",
):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} is malformed: it must be positive")

# --- Celery -----------------------------------------------------------------------------
BROKER_DIR = BASE_DIR / ".broker"
CELERY_BROKER_URL = _read("CELERY_BROKER_URL", str, "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("in", "processed", "control"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "in"),
        "data_folder_out": str(BROKER_DIR / "in"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Without it kombu writes its broadcast table to ./control in the work tree.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
# Beat's record of when each periodic task last ran, out of the work tree's top.
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / ".run" / "celerybeat-schedule")
(BASE_DIR / ".run").mkdir(exist_ok=True)
CELERY_TASK_ALWAYS_EAGER = _read("CELERY_TASK_ALWAYS_EAGER", bool, False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "sweep-deliveries": {"task": "leads.tasks.sweep_deliveries", "schedule": timedelta(seconds=5)},
    "autopause-campaigns": {
        "task": "leads.tasks.autopause_campaigns",
        "schedule": timedelta(seconds=60),
    },
    # The net under cap reservations: counters recounted from sales (docs/security.md).
    "reconcile-caps": {"task": "leads.tasks.reconcile_caps", "schedule": timedelta(minutes=5)},
    "purge-expired-pii": {"task": "leads.tasks.purge_expired_pii", "schedule": timedelta(days=1)},
    "refresh-rollups": {
        "task": "reporting.tasks.refresh_rollups",
        "schedule": timedelta(seconds=ROLLUP_REFRESH_SECONDS),
    },
    "check-alerts": {
        "task": "reporting.tasks.check_alerts",
        "schedule": timedelta(seconds=ALERT_CHECK_SECONDS),
    },
    # Campaigns' quality counts for expected_revenue routing, from the rollups.
    "refresh-quality": {
        "task": "reporting.tasks.refresh_quality",
        "schedule": timedelta(minutes=5),
    },
}

# --- Logging ------------------------------------------------------------------------------
LOG_LEVEL = _read("LOG_LEVEL", str, "INFO")
# LOG_FORMAT=json: one JSON object per line with request_id, lead_id and publisher
# (plumbing/logs.py); PII is masked in both formats. LOG_REQUESTS: a line per request.
LOG_FORMAT = _read("LOG_FORMAT", str, "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT is malformed: it must be plain or json")
LOG_REQUESTS = _read("LOG_REQUESTS", bool, LOG_FORMAT == "json")
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)

if _TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
