"""Django settings of the Conveyor server, all from the environment (see ``conf.SETTINGS``)."""

from __future__ import annotations

import warnings
from urllib.parse import urlsplit

import dj_database_url

from conveyor.server import conf, instance

_BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")

DATA_DIR = conf.data_dir()
# Recorded on each run this data directory's server claims (see runs.recovery).
SERVER_ID = instance.server_id(DATA_DIR)

SECRET_KEY = conf.secret_key(DATA_DIR)
# Newest first: MultiFernet encrypts with the first and decrypts with any.
ENCRYPTION_KEYS = conf.encryption_keys(DATA_DIR)

DEBUG = conf.env_bool("CONVEYOR_DEBUG", False)
# `conveyor server` sets CONVEYOR_URL for itself; other commands (`conveyor repo add`)
# use the URL the server of this data directory recorded when it started.
CONVEYOR_URL = (
    conf.env_str("CONVEYOR_URL") or instance.recorded_url(DATA_DIR) or "http://127.0.0.1:8000"
).rstrip("/")
CONVEYOR_WORKERS = conf.env_int("CONVEYOR_WORKERS", 2, minimum=0)
# Job isolation (see runs/sandboxing.py); `conveyor server --no-sandbox` sets it false.
CONVEYOR_SANDBOX = conf.env_bool("CONVEYOR_SANDBOX", True)
CONVEYOR_SANDBOX_NETWORK = conf.env_bool("CONVEYOR_SANDBOX_NETWORK", True)
CONVEYOR_SANDBOX_USER = conf.env_str("CONVEYOR_SANDBOX_USER", "nobody")
WORKSPACES_DIR = conf.workspaces_dir(DATA_DIR)
CONVEYOR_ACTIONS_URL = conf.env_str("CONVEYOR_ACTIONS_URL") or "https://github.com"
CONVEYOR_MAX_STEP_LOG_MB = conf.env_int("CONVEYOR_MAX_STEP_LOG_MB", 100, minimum=0)
CONVEYOR_CACHE_MAX_MB = conf.env_int("CONVEYOR_CACHE_MAX_MB", 10240, minimum=1)
CONVEYOR_RETENTION_DAYS = conf.env_int("CONVEYOR_RETENTION_DAYS", 90, minimum=0)
# The health watch (monitoring/watch.py).
CONVEYOR_HEALTH_INTERVAL = conf.env_int("CONVEYOR_HEALTH_INTERVAL", 60, minimum=0)
CONVEYOR_HEALTH_TIMEOUT = conf.env_int("CONVEYOR_HEALTH_TIMEOUT", 5, minimum=1)
CONVEYOR_HEALTH_CLOSE_INTERVAL = conf.env_int("CONVEYOR_HEALTH_CLOSE_INTERVAL", 5, minimum=1)
CONVEYOR_HEALTH_CLOSE_MINUTES = conf.env_int("CONVEYOR_HEALTH_CLOSE_MINUTES", 10, minimum=0)
# /metrics answers only a scraper sending this token (Bearer); "" turns /metrics off (404).
CONVEYOR_METRICS_TOKEN = conf.env_str("CONVEYOR_METRICS_TOKEN").strip()
# Scale-out (server/dispatch): with a broker, jobs go to `conveyor worker` processes.
CONVEYOR_BROKER_URL = conf.env_str("CONVEYOR_BROKER_URL").strip()
CONVEYOR_WORKER_TOKEN = conf.env_str("CONVEYOR_WORKER_TOKEN").strip()
CONVEYOR_WORKER_LOST_SECONDS = conf.env_int("CONVEYOR_WORKER_LOST_SECONDS", 30, minimum=1)
if CONVEYOR_BROKER_URL and not CONVEYOR_WORKER_TOKEN:
    raise conf.SettingError(
        "CONVEYOR_WORKER_TOKEN: required when CONVEYOR_BROKER_URL is set (the workers' "
        "shared token, e.g. from `python -c 'import secrets; print(secrets.token_urlsafe())'`)"
    )
if CONVEYOR_BROKER_URL and urlsplit(CONVEYOR_BROKER_URL).scheme not in _BROKER_SCHEMES:
    raise conf.SettingError(
        f"CONVEYOR_BROKER_URL={CONVEYOR_BROKER_URL.split('://')[0]}://...: expected a "
        "redis://, rediss:// or amqp:// URL"
    )

_url_host = urlsplit(CONVEYOR_URL).hostname or ""
ALLOWED_HOSTS = conf.env_list(
    "CONVEYOR_ALLOWED_HOSTS",
    [host for host in ("localhost", "127.0.0.1", "[::1]", _url_host) if host],
)
CSRF_TRUSTED_ORIGINS = [CONVEYOR_URL] if _url_host else []

# E-mail notifications go through Django's mail backend (SMTP unless told otherwise).
EMAIL_BACKEND = (
    conf.env_str("CONVEYOR_EMAIL_BACKEND") or "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = conf.env_str("CONVEYOR_EMAIL_HOST") or "localhost"
EMAIL_PORT = conf.env_int("CONVEYOR_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = conf.env_str("CONVEYOR_EMAIL_USER")
EMAIL_HOST_PASSWORD = conf.env_str("CONVEYOR_EMAIL_PASSWORD")
EMAIL_USE_TLS = conf.env_bool("CONVEYOR_EMAIL_STARTTLS", False)
EMAIL_USE_SSL = conf.env_bool("CONVEYOR_EMAIL_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise conf.SettingError(
        "CONVEYOR_EMAIL_STARTTLS and CONVEYOR_EMAIL_SSL: choose one (STARTTLS on port 587, "
        "SSL on port 465)"
    )
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = conf.env_str("CONVEYOR_EMAIL_FROM") or f"conveyor@{_url_host or 'localhost'}"
# Failed notification and commit status deliveries: retried after this many seconds,
# doubled after each failure, this many attempts in all.
CONVEYOR_NOTIFY_RETRY_SECONDS = conf.env_int("CONVEYOR_NOTIFY_RETRY_SECONDS", 30, minimum=1)
CONVEYOR_NOTIFY_ATTEMPTS = conf.env_int("CONVEYOR_NOTIFY_ATTEMPTS", 8, minimum=1)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "django_htmx",
    "ninja",  # serves the API docs' JavaScript itself, not from a CDN
    "conveyor.server.runs.apps.RunsConfig",
    "conveyor.server.dispatch.apps.DispatchConfig",
    "conveyor.server.repos.apps.ReposConfig",
    "conveyor.server.accounts.apps.AccountsConfig",
    "conveyor.server.ui.apps.UiConfig",
    "conveyor.server.api.apps.ApiConfig",
    "conveyor.server.monitoring.apps.MonitoringConfig",
    "conveyor.server.notifications.apps.NotificationsConfig",
    "conveyor.server.insights.apps.InsightsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "conveyor.server.urls"
ASGI_APPLICATION = "conveyor.server.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

_default_database = f"sqlite:///{DATA_DIR / 'conveyor.sqlite3'}"
try:
    DATABASES = {
        "default": dj_database_url.parse(
            conf.env_str("DATABASE_URL") or _default_database, conn_max_age=0
        )
    }
except ValueError as error:  # an unknown scheme or a malformed URL
    raise conf.SettingError(
        f"DATABASE_URL: {error} (expected e.g. postgres://user:password@host:5432/name "
        "or sqlite:////absolute/path.sqlite3)"
    ) from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and web requests write at once: WAL lets readers go on while one writes,
    # the busy timeout makes a writer wait instead of failing, and IMMEDIATE takes the
    # write lock when a transaction begins, so it never has to be upgraded (which is
    # what fails with "database is locked" despite the timeout).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
        ),
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

# Django's own check, with the one limit on wrong passwords (form, admin, API).
AUTHENTICATION_BACKENDS = ["conveyor.server.accounts.login_limit.LimitedModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# No collectstatic step: whitenoise serves straight from the apps' static folders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
# Whitenoise gives Django a synchronous file iterator, which Django's ASGI handler
# reads whole and warns about. Our static files are a few KiB, so that is fine;
# logs, the large responses, are served from asynchronous iterators.
warnings.filterwarnings(
    "ignore",
    message="StreamingHttpResponse must consume synchronous iterators",
    module="django.core.handlers.asgi",
)

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send X-CSRFToken
if CONVEYOR_URL.startswith("https://"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "conveyor": {"handlers": ["console"], "level": "INFO"},
        "django_tasks": {"handlers": ["console"], "level": "WARNING"},
        "django_tasks_db": {"handlers": ["console"], "level": "WARNING"},
    },
}
