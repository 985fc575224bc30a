"""Settings of the trace explorer.

Everything that differs between the embedded demo and production is read from environment
variables here, with defaults that are safe for the embedded setup (SQLite in ./data, the
built-in trace store). Each variable is documented where it is read and in the README.
"""

import os
from pathlib import Path

import dj_database_url
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
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "explorer",
    "explorer.store",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
    # WAL lets the web server read while `ingest` writes.
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
