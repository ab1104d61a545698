"""kaohe settings, read from the environment. See README.md for the variables."""

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from kaohe.lib.env import (
    ConfigError,
    env_bool,
    env_file,
    env_int,
    env_list,
    env_secret,
    env_str,
    persistent_secret,
)

BASE_DIR = Path(__file__).resolve().parent
KAOHE_ENV = env_str("KAOHE_ENV", "development")
if KAOHE_ENV not in {"development", "production", "test"}:
    raise ConfigError(f"KAOHE_ENV={KAOHE_ENV!r}: use development, production or test")
PRODUCTION = KAOHE_ENV == "production"

DATA_DIR = Path(env_str("KAOHE_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_secret("KAOHE_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ConfigError("KAOHE_SECRET_KEY (or KAOHE_SECRET_KEY_FILE) is required in production")
    SECRET_KEY = persistent_secret(DATA_DIR / "secret_key")

DEBUG = env_bool("KAOHE_DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("KAOHE_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
SITE_URL = env_str("KAOHE_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# The site's own origin is trusted for CSRF, so a login behind an HTTPS proxy works.
CSRF_TRUSTED_ORIGINS = [SITE_URL, *env_list("KAOHE_CSRF_TRUSTED_ORIGINS")]
# Number of reverse proxies in front of kaohe whose X-Forwarded-For entries are trusted.
TRUSTED_PROXY_COUNT = env_int("KAOHE_TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("KAOHE_SECURE_COOKIES", SITE_URL.startswith("https://"))
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_SSL_REDIRECT = env_bool("KAOHE_SSL_REDIRECT", SESSION_COOKIE_SECURE)
    SECURE_HSTS_SECONDS = env_int("KAOHE_HSTS_SECONDS", 0)
    # /healthz is probed over plain HTTP by load balancers and process monitors.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "kaohe.ledger",
    "kaohe.org",
    "kaohe.metrics",
    "kaohe.integrations",
    "kaohe.notify",
    "kaohe.signing",
    "kaohe.alerts",
    "kaohe.reviews",
    "kaohe.pips",
    "kaohe.front",
    "kaohe.cli",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ from the app itself: on-premise installs need no CDN and no extra
    # web server, also with DEBUG off.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "kaohe.lib.http.CurrentRequestMiddleware",
    "kaohe.integrations.idempotency.IdempotencyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "kaohe.urls"
WSGI_APPLICATION = "kaohe.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kaohe.front.context.navigation",
                "kaohe.notify.context.inbox",
            ],
        },
    },
]


def _database() -> dict:
    url = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'kaohe.sqlite3'}"
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("KAOHE_DB_CONN_MAX_AGE", 0))
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL is not a database URL I understand: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE transactions take the write lock up front, so concurrent writers wait
        # (up to the timeout) instead of failing with "database is locked" mid-transaction.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        config.setdefault("TEST", {})["NAME"] = env_str("KAOHE_TEST_SQLITE_NAME") or None
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": env_str("KAOHE_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "front:login"
LOGIN_REDIRECT_URL = "front:home"
LOGOUT_REDIRECT_URL = "front:login"

# Failed-login throttle: this many failures per username or per IP within the window.
LOGIN_FAILURE_LIMIT = env_int("KAOHE_LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("KAOHE_LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
INVITATION_VALID_HOURS = env_int("KAOHE_INVITATION_VALID_HOURS", 72)
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("KAOHE_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve straight from the apps; `collectstatic` is optional
MEDIA_ROOT = DATA_DIR / "files"
# The evidence ledger's Ed25519 checkpoint key (created on first use, mode 0600), and an
# optional RFC 3161 timestamping authority for checkpoints.
LEDGER_KEY_FILE = Path(env_str("KAOHE_LEDGER_KEY_FILE") or DATA_DIR / "keys" / "ledger-ed25519.pem")
KAOHE_TSA_URL = env_str("KAOHE_TSA_URL")
KAOHE_TSA_ROOTS = env_file("KAOHE_TSA_ROOTS")  # PEM bundle the TSA's certificate must chain to


# WebAuthn (passkeys): the relying party id (the site's host name; an IP address cannot be
# one, so a site at 127.0.0.1 uses "localhost") and the origins pages are served from. With
# KAOHE_WEBAUTHN_ANY_LOCALHOST (default: DEBUG) any http://localhost:<port> is accepted too,
# for development and browser tests.
def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_SITE_HOST = urlsplit(SITE_URL).hostname or "localhost"
KAOHE_WEBAUTHN_RP_ID = env_str(
    "KAOHE_WEBAUTHN_RP_ID", "localhost" if _is_ip_address(_SITE_HOST) else _SITE_HOST
)
KAOHE_WEBAUTHN_ORIGINS = env_list(
    "KAOHE_WEBAUTHN_ORIGINS",
    [SITE_URL] if PRODUCTION else list(dict.fromkeys([SITE_URL, "http://localhost:8000"])),
)
KAOHE_WEBAUTHN_ANY_LOCALHOST = env_bool("KAOHE_WEBAUTHN_ANY_LOCALHOST", DEBUG)
# The company CA and seal certificate of the sealed letters (created on first use, keys
# mode 0600), and the CJK font documents are set in (an .otf/.ttf/.ttc; Noto Sans CJK SC
# from Debian's fonts-noto-cjk when unset).
KAOHE_SEAL_DIR = Path(env_str("KAOHE_SEAL_DIR") or DATA_DIR / "keys" / "seal")
KAOHE_CJK_FONT = env_str("KAOHE_CJK_FONT")

EMAIL_BACKEND = env_str(
    "KAOHE_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("KAOHE_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("KAOHE_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("KAOHE_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_secret("KAOHE_EMAIL_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("KAOHE_EMAIL_TLS", False)
DEFAULT_FROM_EMAIL = env_str("KAOHE_EMAIL_FROM", "kaohe@localhost")

# Largest API request body (a batch of up to 10,000 facts); larger ones get a 413 problem.
KAOHE_API_MAX_BODY_BYTES = env_int("KAOHE_API_MAX_BODY_BYTES", 20 * 1024 * 1024)
# Largest request body Django reads into memory (forms, API bodies; uploaded files do
# not count).
DATA_UPLOAD_MAX_MEMORY_SIZE = max(10 * 1024 * 1024, KAOHE_API_MAX_BODY_BYTES)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
KAOHE_MAX_IMPORT_BYTES = env_int("KAOHE_MAX_IMPORT_BYTES", 50 * 1024 * 1024)
# Pull connectors reach only these host names or networks (CIDR); empty: any address that is
# not link-local (see kaohe/integrations/outbound.py).
KAOHE_PULL_ALLOWED_HOSTS = env_list("KAOHE_PULL_ALLOWED_HOSTS")
KAOHE_DELIVERY_RETENTION_DAYS = env_int("KAOHE_DELIVERY_RETENTION_DAYS", 90)  # the request log

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("KAOHE_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
