"""Settings of the trace explorer.

Everything that differs between the embedded demo and production is read from environment
variables here, with defaults that are safe for the embedded setup (SQLite in ./data, the
built-in trace store). Each variable is documented where it is read and in the README.
"""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# EXPLORER_DATA_DIR: where the SQLite database and generated demo data live (ignored by git).
DATA_DIR = Path(os.environ.get("EXPLORER_DATA_DIR", BASE_DIR / "data"))

# EXPLORER_PRODUCTION=1 switches on the production checks (HTTPS, secure cookies, HSTS...).
PRODUCTION = env_bool("EXPLORER_PRODUCTION", False)
DEBUG = env_bool("DJANGO_DEBUG", False)

# DJANGO_SECRET_KEY is mandatory in production; the demo generates one into DATA_DIR.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when EXPLORER_PRODUCTION=1")
    _key_file = DATA_DIR / "secret_key"
    if _key_file.exists():
        SECRET_KEY = _key_file.read_text().strip()
    else:
        # Not persisted here: a process that never wrote the file gets a throw-away key.
        from django.core.management.utils import get_random_secret_key

        SECRET_KEY = get_random_secret_key()

# DJANGO_ALLOWED_HOSTS: comma-separated host names the explorer answers to.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "accounts.apps.ExplorerAdminConfig",  # django.contrib.admin, with the explorer's admin site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "accounts.apps.AuthenticatorAppsConfig",  # django_otp.plugins.otp_totp, named
    "accounts.apps.BackupCodesConfig",  # django_otp.plugins.otp_static, named
    "accounts.apps.LockoutsConfig",  # axes, named
    "csp",
    "accounts",
    "explorer",
    "explorer.store",
    "explorer.orders",
    "explorer.c4",
    "explorer.web",
    "explorer.tours",
    "explorer.receiver",
    "explorer.alerts",
    "explorer.erasure",
]

MIDDLEWARE = [
    # First: every log line of a request carries its id; the response says it (X-Request-ID).
    "explorer.logs.RequestIdMiddleware",
    # Next: refuses bodies without a length; keeps `runserver` from reading a refused body.
    "explorer.web.middleware.UnreadBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything else answers (static files included): intranet addresses only.
    "accounts.middleware.IntranetOnlyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accounts.middleware.NoStoreMiddleware",  # after WhiteNoise: static files stay cacheable
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "explorer.web.middleware.TimeZoneMiddleware",  # times in the zone chosen on /settings/
    "django_otp.middleware.OTPMiddleware",
    # Before any process_view (the CSRF check reads the body): size by Content-Length.
    "accounts.middleware.RequestBodyLimitMiddleware",
    "accounts.middleware.SessionSecurityMiddleware",
    "accounts.middleware.AccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

# --- Logging (explorer/logs.py, docs/operations.md) ----------------------------------------
# One line per event on stderr, with the request id; errors with their traceback.
# EXPLORER_LOG_LEVEL: DEBUG, INFO (default), WARNING or ERROR.
# EXPLORER_LOG_FORMAT: logfmt (key=value, default) or json.
from explorer.logs import logging_settings  # noqa: E402

_LOG_LEVEL = os.environ.get("EXPLORER_LOG_LEVEL", "INFO").upper()
_LOG_FORMAT = os.environ.get("EXPLORER_LOG_FORMAT", "logfmt")
if _LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR") or _LOG_FORMAT not in ("logfmt", "json"):
    raise ImproperlyConfigured(
        f"EXPLORER_LOG_LEVEL={_LOG_LEVEL!r} / EXPLORER_LOG_FORMAT={_LOG_FORMAT!r}: expected "
        "DEBUG, INFO, WARNING or ERROR / logfmt or json"
    )
LOGGING = logging_settings(_LOG_LEVEL, _LOG_FORMAT)

ROOT_URLCONF = "explorer.urls"
WSGI_APPLICATION = "explorer.wsgi.application"

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
                "django.template.context_processors.i18n",
                "accounts.context_processors.account",
                "explorer.tours.context_processors.tours_to_take",
            ],
        },
    },
]

# DATABASE_URL: e.g. postgres://user:pass@host:5432/explorer; default SQLite in DATA_DIR.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'explorer.sqlite3'}"),
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while `ingest` writes. (A new database is created in
    # incremental auto-vacuum mode by `migrate`: explorer/store/apps.py.)
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# EXPLORER_TIME_ZONE: the default time zone for displayed times.
TIME_ZONE = os.environ.get("EXPLORER_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"

# --- Trace data -----------------------------------------------------------------------------
# EXPLORER_BUSINESS_ATTRIBUTES: attribute keys (on spans or resources) the store indexes and
# journeys look orders up by.
EXPLORER_BUSINESS_ATTRIBUTES = env_list(
    "EXPLORER_BUSINESS_ATTRIBUTES", "order.id,customer.id,customer.type"
)

# The model the explorer works with (explorer/configuration.py): the C4 model (Structurizr DSL,
# C4-PlantUML, draw.io or workspace JSON), the telemetry mapping, the order state graph and the
# response-time SLA. EXPLORER_MODEL_FILE, EXPLORER_MAPPING_FILE, EXPLORER_STATES_FILE,
# EXPLORER_SLA_FILE; default: the Alexandrite model shipped in explorer/alexandrite/.
_ALEXANDRITE = BASE_DIR / "explorer" / "alexandrite"
EXPLORER_MODEL_FILE = os.environ.get("EXPLORER_MODEL_FILE", str(_ALEXANDRITE / "model.dsl"))
EXPLORER_MAPPING_FILE = os.environ.get("EXPLORER_MAPPING_FILE", str(_ALEXANDRITE / "mapping.json"))
EXPLORER_STATES_FILE = os.environ.get("EXPLORER_STATES_FILE", str(_ALEXANDRITE / "states.json"))
EXPLORER_SLA_FILE = os.environ.get("EXPLORER_SLA_FILE", str(_ALEXANDRITE / "sla.json"))

# --- Trace backends (explorer/sources/config.py, README "Tracing backends") ---------------
# EXPLORER_BACKENDS: JSON list of {"name", "kind": store|jaeger|tempo|zipkin, "url", ...};
# secrets by env var name (token_env, password_env). EXPLORER_DEFAULT_BACKEND: the one pages
# use (default: the first). Default: the embedded store, named "embedded".
from explorer.sources.config import BackendConfigError, backends_setting, url_scheme  # noqa: E402

# EXPLORER_ALLOW_HTTP_BACKENDS=1: accept plain http:// backend URLs in production (refused
# there otherwise; elsewhere `check` warns about them, accounts/checks.py).
EXPLORER_ALLOW_HTTP_BACKENDS = env_bool("EXPLORER_ALLOW_HTTP_BACKENDS", False)
try:
    EXPLORER_BACKENDS, EXPLORER_DEFAULT_BACKEND = backends_setting(
        os.environ.get("EXPLORER_BACKENDS"),
        os.environ.get("EXPLORER_DEFAULT_BACKEND"),
        allow_http=not PRODUCTION or EXPLORER_ALLOW_HTTP_BACKENDS,
    )
except BackendConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None

# EXPLORER_CACHE_URL: e.g. redis://cache.internal:6379/1 for a shared cache; default: local
# memory, bounded. The "traces" cache holds fetched remote traces (explorer/sources/cache.py).
# EXPLORER_TRACE_CACHE_SECONDS: how long a fetched trace is reused (default 300).
_CACHE_URL = os.environ.get("EXPLORER_CACHE_URL", "")
CACHES: dict[str, dict[str, Any]]
if _CACHE_URL:
    CACHES = {
        alias: {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _CACHE_URL,
            "KEY_PREFIX": alias,
        }
        for alias in ("default", "traces")
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "traces": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "explorer-traces",
            "OPTIONS": {"MAX_ENTRIES": 200},
        },
    }
EXPLORER_TRACE_CACHE_SECONDS = int(os.environ.get("EXPLORER_TRACE_CACHE_SECONDS", "300"))

# --- Web pages (explorer/web, README "Web explorer") ---------------------------------------
# EXPLORER_UPLOAD_MAX_BYTES: the largest trace file /upload/ accepts (default 50 MB).
EXPLORER_UPLOAD_MAX_BYTES = int(os.environ.get("EXPLORER_UPLOAD_MAX_BYTES", str(50 * 1024 * 1024)))
# EXPLORER_ANALYTICS_MAX_TRACES: the newest traces of a window the system map, drift, SLA and
# anomalies pages read from a source without hourly figures (a remote backend; default 2000).
EXPLORER_ANALYTICS_MAX_TRACES = int(os.environ.get("EXPLORER_ANALYTICS_MAX_TRACES", "2000"))

# --- Accounts and security (accounts/, README "Accounts and security") ----------------------
from accounts.ldap_config import ldap_settings  # noqa: E402

# LDAP login: every EXPLORER_LDAP_* variable is documented in accounts/ldap_config.py.
_ldap = ldap_settings(os.environ)
globals().update(_ldap)
# Named here as well, so that readers (and mypy, through django-stubs) see the two settings
# accounts reads: whether LDAP is on, and role -> group DNs (credential_guard.py, signals.py).
EXPLORER_LDAP_ENABLED: bool = _ldap["EXPLORER_LDAP_ENABLED"]
EXPLORER_LDAP_ROLE_GROUPS: dict[str, list[str]] = _ldap["EXPLORER_LDAP_ROLE_GROUPS"]
# Axes first (refuses locked-out users), then the directory, then local accounts (the demo
# and break-glass administrators).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    *(["django_auth_ldap.backend.LDAPBackend"] if EXPLORER_LDAP_ENABLED else []),
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"

# EXPLORER_ALLOWED_NETWORKS: comma-separated CIDRs allowed to reach the explorer
# (default: loopback and the private ranges, for the demo).
EXPLORER_ALLOWED_NETWORKS = env_list(
    "EXPLORER_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
)
# EXPLORER_TRUSTED_PROXIES: CIDRs of reverse proxies whose X-Forwarded-For is believed
# (default: none, X-Forwarded-For is ignored).
EXPLORER_TRUSTED_PROXIES = env_list("EXPLORER_TRUSTED_PROXIES", "")
# /metrics for Prometheus (explorer/web/metrics.py, docs/grafana.md): answered only to
# EXPLORER_METRICS_NETWORKS (comma-separated CIDRs; default loopback; the scraper must be inside
# EXPLORER_ALLOWED_NETWORKS too) sending "Authorization: Bearer EXPLORER_METRICS_TOKEN";
# no token set (the default): /metrics answers 403.
EXPLORER_METRICS_NETWORKS = env_list("EXPLORER_METRICS_NETWORKS", "127.0.0.0/8,::1/128")
EXPLORER_METRICS_TOKEN = os.environ.get("EXPLORER_METRICS_TOKEN", "")

# EXPLORER_SESSION_IDLE_SECONDS: a session ends after this long without a request (30 min).
EXPLORER_SESSION_IDLE_SECONDS = int(os.environ.get("EXPLORER_SESSION_IDLE_SECONDS", "1800"))
SESSION_COOKIE_AGE = EXPLORER_SESSION_IDLE_SECONDS
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SAMESITE = "Lax"

# Second factor (django-otp): TOTP with one step of clock drift either way; django-axes
# counts wrong codes, so django-otp's own back-off is off.
OTP_TOTP_ISSUER = os.environ.get("EXPLORER_OTP_ISSUER", "Alexandrite Trace Explorer")
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# The admin never shows a TOTP key, its QR code or backup codes (an administrator who saw
# them could pass another user's second factor).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Brute force (django-axes): EXPLORER_LOCKOUT_FAILURES wrong passwords or codes (default 10)
# lock the user name and, separately, the address for EXPLORER_LOCKOUT_MINUTES (default 15).
AXES_FAILURE_LIMIT = int(os.environ.get("EXPLORER_LOCKOUT_FAILURES", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("EXPLORER_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "accounts.addresses.request_client_address"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
# The status of the lockout page (axes' default, named for accounts/views.py, which answers
# with it too when a user is locked out while entering codes).
AXES_HTTP_RESPONSE_CODE = 429

# Field-level redaction (accounts/redaction.py). EXPLORER_REDACTION_IDENTIFIER_KEYS and
# EXPLORER_REDACTION_IDENTIFIER_PATTERNS (";"-separated regexes) replace the defaults:
# attribute keys and value patterns of customer identifiers, masked without
# accounts.view_customer_ids.
EXPLORER_REDACTION = {
    key: values
    for key, values in {
        "identifier_keys": env_list("EXPLORER_REDACTION_IDENTIFIER_KEYS"),
        "identifier_patterns": [
            p for p in os.environ.get("EXPLORER_REDACTION_IDENTIFIER_PATTERNS", "").split(";") if p
        ],
    }.items()
    if values
}

# Content-Security-Policy in every mode: no inline scripts or styles anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF],
        "style-src": [CSP_SELF],
        "img-src": [CSP_SELF, "data:"],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_SELF],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    }
}
X_FRAME_OPTIONS = "DENY"

# Production (EXPLORER_PRODUCTION=1): HTTPS only. DJANGO_CSRF_TRUSTED_ORIGINS lists the
# https:// origins users reach the explorer by; EXPLORER_HSTS_SECONDS (default one year);
# EXPLORER_BEHIND_TLS_PROXY=1 when a proxy terminates TLS and sets X-Forwarded-Proto.
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG must be off when EXPLORER_PRODUCTION=1")
    _plain = [origin for origin in CSRF_TRUSTED_ORIGINS if url_scheme(origin) != "https"]
    if _plain:
        raise ImproperlyConfigured(f"DJANGO_CSRF_TRUSTED_ORIGINS must be https://: {_plain}")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("EXPLORER_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env_bool("EXPLORER_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- OTLP receiver (`manage.py receive`, explorer/receiver; docs/receiver.md) ---
# EXPLORER_RECEIVER_MODE: "full" stores every span in the embedded store (as `ingest`);
# "index" keeps only what journeys need beside a Tempo or Jaeger backend that gets the spans.
EXPLORER_RECEIVER_MODE = os.environ.get("EXPLORER_RECEIVER_MODE", "full").strip().lower()
# EXPLORER_RECEIVER_INDEX_TRAFFIC: in index mode, also keep the system map's hourly figures
# (explorer/receiver/calls.py), so that the map and drift read whole hours; off by default: it
# costs the receiver more CPU a span than its budget allows (docs/receiver.md).
EXPLORER_RECEIVER_INDEX_TRAFFIC = env_bool("EXPLORER_RECEIVER_INDEX_TRAFFIC", False)
# EXPLORER_RECEIVER_TOKENS: JSON {"sender-name": "token"}; senders authenticate with
# "Authorization: Bearer <token>". Empty: only a receiver on loopback accepts anonymous senders.
EXPLORER_RECEIVER_TOKENS = os.environ.get("EXPLORER_RECEIVER_TOKENS", "{}")
# EXPLORER_RECEIVER_MAX_BYTES: largest request body, compressed and inflated (413 past it).
EXPLORER_RECEIVER_MAX_BYTES = int(os.environ.get("EXPLORER_RECEIVER_MAX_BYTES", str(8 << 20)))
# EXPLORER_RECEIVER_MAX_ATTRIBUTE_BYTES: a span with a larger attribute value is rejected.
EXPLORER_RECEIVER_MAX_ATTRIBUTE_BYTES = int(
    os.environ.get("EXPLORER_RECEIVER_MAX_ATTRIBUTE_BYTES", str(64 << 10))
)
# EXPLORER_RECEIVER_IN_FLIGHT: requests decoded and written at once per receiver process;
# the next ones wait in their senders' sockets, and after 2 s are answered 429 (memory stays
# bounded by this many bodies).
EXPLORER_RECEIVER_IN_FLIGHT = int(os.environ.get("EXPLORER_RECEIVER_IN_FLIGHT", "8"))
# EXPLORER_RECEIVER_WRITERS: processes that decode, prepare and commit requests beside each
# receiver process (default: one per CPU); 0 does it in the requests' own threads.
EXPLORER_RECEIVER_WRITERS = int(
    os.environ.get("EXPLORER_RECEIVER_WRITERS", str(os.cpu_count() or 1))
)
# EXPLORER_RECEIVER_RETRY_AFTER: seconds a throttled sender is told to wait.
EXPLORER_RECEIVER_RETRY_AFTER = int(os.environ.get("EXPLORER_RECEIVER_RETRY_AFTER", "1"))
# EXPLORER_RECEIVER_TLS_CERT / EXPLORER_RECEIVER_TLS_KEY: PEM files; both set: HTTPS and gRPC
# over TLS. Unset: plain (loopback, or behind a TLS-terminating proxy).
EXPLORER_RECEIVER_TLS_CERT = os.environ.get("EXPLORER_RECEIVER_TLS_CERT", "")
EXPLORER_RECEIVER_TLS_KEY = os.environ.get("EXPLORER_RECEIVER_TLS_KEY", "")
# EXPLORER_RECEIVER_CONNECTIONS: OTLP/HTTP connections open at once per receiver process; past
# it new connections wait in the kernel's queue until one closes.
EXPLORER_RECEIVER_CONNECTIONS = int(os.environ.get("EXPLORER_RECEIVER_CONNECTIONS", "200"))
# EXPLORER_RECEIVER_HEADER_TIMEOUT: seconds a request's headers (and a TLS handshake) may take
# to arrive, from their first byte; past it the connection is closed.
EXPLORER_RECEIVER_HEADER_TIMEOUT = float(os.environ.get("EXPLORER_RECEIVER_HEADER_TIMEOUT", "10"))
# EXPLORER_RECEIVER_IDLE_TIMEOUT: seconds a connection may stay silent (between requests, or in
# the middle of one) before it is closed.
EXPLORER_RECEIVER_IDLE_TIMEOUT = float(os.environ.get("EXPLORER_RECEIVER_IDLE_TIMEOUT", "60"))

# --- Live order statuses (explorer/orders/live.py; docs/live.md) ---------------------------
# EXPLORER_LIVE_INTERVAL_SECONDS: pause between two cycles of the live worker (`watch`, and
# the one `receive` runs): new arrivals are judged within about this long (default 2).
EXPLORER_LIVE_INTERVAL_SECONDS = float(os.environ.get("EXPLORER_LIVE_INTERVAL_SECONDS", "2"))
# EXPLORER_LIVE_BATCH: changed orders computed again per batch, one transaction each (200).
EXPLORER_LIVE_BATCH = int(os.environ.get("EXPLORER_LIVE_BATCH", "200"))
# EXPLORER_LIVE_REFERENCE_SECONDS: the stored reference (baseline and typical journeys) is
# computed again at most this often (wall clock), and whenever it no longer serves the newest
# span (over an hour older); default 900.
EXPLORER_LIVE_REFERENCE_SECONDS = float(os.environ.get("EXPLORER_LIVE_REFERENCE_SECONDS", "900"))
# EXPLORER_LIVE_PAGE_SECONDS: the home page reads its stuck, lost and anomalous lists again this
# often while it is shown (explorer/web/home.py; 0: never, the page shows them as loaded);
# default 10.
EXPLORER_LIVE_PAGE_SECONDS = int(os.environ.get("EXPLORER_LIVE_PAGE_SECONDS", "10"))
# EXPLORER_LIVE_STALE_SECONDS: a live worker whose last completed cycle is older than this is
# stuck or dead: the home page says so, the receiver's health is not ok, and `receive` or
# `watch` starts a new worker thread once it showed no progress that long
# (explorer/management/supervisor.py); default 120 (60 intervals of 2 s, or a long reference).
EXPLORER_LIVE_STALE_SECONDS = float(os.environ.get("EXPLORER_LIVE_STALE_SECONDS", "120"))

# --- Retention (explorer/orders/retention.py, explorer/store/retention.py; docs/store.md) ----
# EXPLORER_RETENTION_TRACE_DAYS: traces of orders that went well, and traces of no order, are
# removed once the order's newest trace (a trace of no order: the trace) is older (default 30).
# EXPLORER_RETENTION_PROBLEM_DAYS: those of orders lost, stuck, off the state graph, over an
# SLA, anomalous or with an alert, once older than this (default 180).
# EXPLORER_RETENTION_STATUS_DAYS: order status rows, hourly figures and the records of removed
# traces (default 730: two years).
# EXPLORER_RETENTION_INTERVAL_SECONDS: the live worker prunes this often (0: never; default 600).
# EXPLORER_RETENTION_BATCH: traces removed per transaction (default 300).
from explorer.orders.retention_policy import RetentionPolicy  # noqa: E402

try:
    EXPLORER_RETENTION = RetentionPolicy.from_environment(os.environ)
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None

# --- Alerts (explorer/alerts, docs/alerts.md) -------------------------------------------------
# E-mail goes through Django's own settings: EMAIL_HOST (default localhost), EMAIL_PORT (25),
# EMAIL_HOST_USER / EMAIL_HOST_PASSWORD, EMAIL_USE_TLS / EMAIL_USE_SSL, EMAIL_TIMEOUT (seconds)
# and DEFAULT_FROM_EMAIL, each read from the environment variable of the same name.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "trace-explorer@localhost")
# EXPLORER_ALERT_WEBHOOKS: JSON list of {"name", "url", "secret_env", "kinds", ...}; checked
# here (explorer/alerts/config.py: parse_webhooks), so a mistake stops the start with a clear
# message. Secrets come from the environment variables the entries name.
from explorer.alerts.config import WebhookConfigError, parse_webhooks  # noqa: E402

EXPLORER_ALERT_WEBHOOKS = os.environ.get("EXPLORER_ALERT_WEBHOOKS", "")
# EXPLORER_ALLOW_HTTP_WEBHOOKS=1: accept plain http:// webhook URLs in production (refused
# there otherwise; `check` warns about them in every mode, accounts/checks.py).
EXPLORER_ALLOW_HTTP_WEBHOOKS = env_bool("EXPLORER_ALLOW_HTTP_WEBHOOKS", False)
try:
    parse_webhooks(
        EXPLORER_ALERT_WEBHOOKS, allow_http=not PRODUCTION or EXPLORER_ALLOW_HTTP_WEBHOOKS
    )
except WebhookConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None
# EXPLORER_ALERT_BASE_URL: the explorer's address as recipients reach it (links in e-mails and
# webhook payloads), e.g. https://explorer.internal; empty: links are relative paths.
EXPLORER_ALERT_BASE_URL = os.environ.get("EXPLORER_ALERT_BASE_URL", "").rstrip("/")
# --- Security hardening (issue 17): pseudonyms, raw-identifier attempts ---------------------
# Read by accounts/redaction.py (pseudonym_key_from_settings): the HMAC key of customer
# pseudonyms; empty: derived from SECRET_KEY. Changing it changes every pseudonym.
EXPLORER_PSEUDONYM_KEY = os.environ.get("EXPLORER_PSEUDONYM_KEY", "")
# Read by explorer/web/pseudonyms.py: raw customer ids a viewer without view_customer_ids may
# try (each refused and audited) per window before getting 429 pages.
EXPLORER_RAW_ID_ATTEMPTS = int(os.environ.get("EXPLORER_RAW_ID_ATTEMPTS", "10"))
EXPLORER_RAW_ID_WINDOW_SECONDS = int(os.environ.get("EXPLORER_RAW_ID_WINDOW_SECONDS", "3600"))
# Read by accounts/middleware.py (RequestBodyLimitMiddleware), before anything reads a body:
# the largest request body of a client without a verified second factor (a login form), and
# of a verified one (an upload: EXPLORER_UPLOAD_MAX_BYTES plus room for the form).
EXPLORER_UNVERIFIED_MAX_BODY_BYTES = int(
    os.environ.get("EXPLORER_UNVERIFIED_MAX_BODY_BYTES", str(64 * 1024))
)
EXPLORER_MAX_BODY_BYTES = int(
    os.environ.get("EXPLORER_MAX_BODY_BYTES", str(EXPLORER_UPLOAD_MAX_BYTES + 1024 * 1024))
)
# Read by explorer/store/ingest.py (`ingest`) and explorer/web/uploads.py: how far a gzip
# input may inflate, in all and as a multiple of its compressed size (explorer/traces/
# decompress.py); past either, the file is refused with an error naming the limit.
EXPLORER_INFLATE_MAX_BYTES = int(os.environ.get("EXPLORER_INFLATE_MAX_BYTES", str(1 << 30)))
EXPLORER_INFLATE_MAX_RATIO = int(os.environ.get("EXPLORER_INFLATE_MAX_RATIO", "200"))
# Read by explorer/web/upload_store.py: where uploaded files are kept, parsed, in a pack file
# (never in process memory), for how long, and how much disk (in blocks) one user's uploads
# may take. EXPLORER_UPLOAD_DOCUMENT_MAX_BYTES: the largest single document (a JSON or
# protobuf file that is not JSON lines) or JSON line of an upload, inflated, that is read
# (into memory, about ten times its size); a larger one is reported and not read.
EXPLORER_UPLOAD_DIR = os.environ.get("EXPLORER_UPLOAD_DIR", str(DATA_DIR / "uploads"))
EXPLORER_UPLOAD_SECONDS = int(os.environ.get("EXPLORER_UPLOAD_SECONDS", str(30 * 60)))
EXPLORER_UPLOAD_QUOTA_BYTES = int(
    os.environ.get("EXPLORER_UPLOAD_QUOTA_BYTES", str(500 * 1024 * 1024))
)
EXPLORER_UPLOAD_DOCUMENT_MAX_BYTES = int(
    os.environ.get("EXPLORER_UPLOAD_DOCUMENT_MAX_BYTES", str(16 * 1024 * 1024))
)
# Read by accounts/search_limits.py: the longest search text (admin search boxes, the audit
# page's filters) and the most words in an admin search; past either, the search is not run
# and the page says why.
EXPLORER_SEARCH_MAX_CHARS = int(os.environ.get("EXPLORER_SEARCH_MAX_CHARS", "200"))
EXPLORER_SEARCH_MAX_TERMS = int(os.environ.get("EXPLORER_SEARCH_MAX_TERMS", "10"))
# Read by explorer/web/common.py (policy): the longest text from a trace a page shows (span
# names, attribute values, messages); longer ones end in "…". Downloads keep whole texts.
EXPLORER_MAX_SHOWN_TEXT = int(os.environ.get("EXPLORER_MAX_SHOWN_TEXT", "4000"))

# --- The data clock (explorer/store/clock.py; docs/live.md#the-data-clock) -------------------
# EXPLORER_CLOCK_TOLERANCE_SECONDS: a trace that ends more than this far ahead of the data
# clock when it arrives (of the wall clock for `ingest`; of the line through the recent
# arrivals for the receiver) is flagged as clock skew and never becomes the explorer's "now"
# (default 900, 15 minutes of data time). For a source that sees no arrivals (a remote
# backend), "now" leaves out traces starting this far after the wall clock
# (explorer.orders.service.now_policy).
from explorer.journeys.now import CLOCK_TOLERANCE_S  # noqa: E402

EXPLORER_CLOCK_TOLERANCE_SECONDS = float(
    os.environ.get("EXPLORER_CLOCK_TOLERANCE_SECONDS", CLOCK_TOLERANCE_S)
)
# EXPLORER_CLOCK_WINDOW_SECONDS: the receiver's data clock is fitted to the arrivals of this
# many wall-clock seconds back (default 600); a sender whose clock really moved is followed
# once its arrivals are most of this window.
EXPLORER_CLOCK_WINDOW_SECONDS = float(os.environ.get("EXPLORER_CLOCK_WINDOW_SECONDS", "600"))
