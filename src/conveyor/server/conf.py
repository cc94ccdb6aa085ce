"""The server's settings as environment variables (12-factor), read with typed helpers.

This module imports neither Django nor anything heavy: ``conveyor server --help``
lists ``SETTINGS`` without starting Django. A value that cannot be read (``yes``
for a number) raises ``SettingError`` naming the variable and what it expected.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


class SettingError(Exception):
    """An environment variable holds a value the server cannot use."""


class Setting:
    """One environment variable the server reads (a plain class: dataclasses cost start-up)."""

    __slots__ = ("default", "help", "name")

    def __init__(self, name: str, default: str, help: str) -> None:
        self.name = name
        self.default = default  # as shown in --help
        self.help = help


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "CONVEYOR_DATA",
        "the user data directory (platformdirs); /var/lib/conveyor for root",
        "data directory: database, keys, repository mirrors, workspaces",
    ),
    Setting(
        "DATABASE_URL",
        "sqlite:///<data>/conveyor.sqlite3",
        "database URL (postgres://user:pass@host/db for PostgreSQL)",
    ),
    Setting(
        "CONVEYOR_SECRET_KEY",
        "generated once into <data>/secret_key",
        "Django's SECRET_KEY (sessions, CSRF)",
    ),
    Setting(
        "CONVEYOR_ENCRYPTION_KEYS",
        "generated once into <data>/encryption_keys",
        "Fernet keys for secrets at rest, comma-separated, newest first (rotation)",
    ),
    Setting(
        "CONVEYOR_ALLOWED_HOSTS",
        "localhost,127.0.0.1,[::1] plus the host of CONVEYOR_URL",
        "host names the server answers to, comma-separated",
    ),
    Setting(
        "CONVEYOR_URL",
        "http://<host>:<port>",
        "external base URL (links, badges); hooks use <data>/server_url unless it is set",
    ),
    Setting("CONVEYOR_WORKERS", "2", "embedded worker threads (runs at once)"),
    Setting(
        "CONVEYOR_SANDBOX",
        "true",
        "run each job in a bubblewrap sandbox (false: same as --no-sandbox; never on a "
        "server that runs others' workflows)",
    ),
    Setting(
        "CONVEYOR_SANDBOX_NETWORK",
        "true",
        "whether sandboxed jobs reach the network (false: loopback only, so a job "
        "with services: fails before its steps)",
    ),
    Setting(
        "CONVEYOR_SANDBOX_USER",
        "nobody",
        "unprivileged user (name or uid) that runs the sandboxes when the server runs as root",
    ),
    Setting(
        "CONVEYOR_WORKSPACES",
        "<data>/workspaces",
        "where jobs' workspaces and private files live (the sandbox user must reach it)",
    ),
    Setting(
        "CONVEYOR_ACTIONS_URL",
        "https://github.com",
        "where `uses: owner/repo@ref` actions are fetched from (URL/owner/repo): a mirror, "
        "or a directory of bare repositories; fetched actions are kept in <data>/store",
    ),
    Setting(
        "CONVEYOR_CACHE_MAX_MB",
        "10240",
        "actions/cache keeps this many MB per repository in <data>/store/cache; "
        "the entries used longest ago go first",
    ),
    Setting(
        "CONVEYOR_CACHE_COMPRESSION",
        "zstd when installed, else gzip",
        "how actions/cache archives are compressed: zstd, gzip or none (fastest restore)",
    ),
    Setting(
        "CONVEYOR_MAX_STEP_LOG_MB",
        "100",
        "a step's log keeps this many MB of its output, the rest is dropped (0: no cap)",
    ),
    Setting(
        "CONVEYOR_RETENTION_DAYS",
        "90",
        "runs and their logs are deleted this many days after they finish (0: kept forever)",
    ),
    Setting(
        "CONVEYOR_HEALTH_INTERVAL",
        "60",
        "seconds between two health checks of an environment with a health URL "
        "(0: no health watch)",
    ),
    Setting(
        "CONVEYOR_HEALTH_TIMEOUT",
        "5",
        "seconds a health check waits for its answer before it counts as failed",
    ),
    Setting(
        "CONVEYOR_HEALTH_CLOSE_INTERVAL",
        "5",
        "seconds between health checks right after a deployment went live",
    ),
    Setting(
        "CONVEYOR_HEALTH_CLOSE_MINUTES",
        "10",
        "minutes after a deployment went live that it is watched closely (and may be "
        "rolled back automatically)",
    ),
    Setting(
        "CONVEYOR_EMAIL_HOST",
        "localhost",
        "SMTP server for e-mail notifications (CONVEYOR_EMAIL_PORT, default 25)",
    ),
    Setting("CONVEYOR_EMAIL_PORT", "25", "port of the SMTP server"),
    Setting("CONVEYOR_EMAIL_USER", "(none)", "SMTP user name, when the server wants a login"),
    Setting("CONVEYOR_EMAIL_PASSWORD", "(none)", "SMTP password of that user"),
    Setting("CONVEYOR_EMAIL_STARTTLS", "false", "upgrade the SMTP connection with STARTTLS"),
    Setting("CONVEYOR_EMAIL_SSL", "false", "speak SMTP over TLS from the start (port 465)"),
    Setting("CONVEYOR_EMAIL_FROM", "conveyor@<host of CONVEYOR_URL>", "sender of notifications"),
    Setting(
        "CONVEYOR_EMAIL_BACKEND",
        "django.core.mail.backends.smtp.EmailBackend",
        "Django mail backend (the console backend prints e-mails instead of sending them)",
    ),
    Setting(
        "CONVEYOR_NOTIFY_RETRY_SECONDS",
        "30",
        "a failed notification or commit status is tried again after this many seconds, "
        "doubled after each failure",
    ),
    Setting("CONVEYOR_NOTIFY_ATTEMPTS", "8", "attempts at a delivery before it is given up"),
    Setting(
        "CONVEYOR_METRICS_TOKEN",
        "unset: /metrics answers 404",
        "bearer token a Prometheus scraper sends to GET /metrics (docs/metrics.md)",
    ),
    Setting(
        "CONVEYOR_BROKER_URL",
        "(none: jobs run in the server's own process)",
        "Celery broker (redis://host:6379/0 or amqp://user:pass@host//): jobs go to "
        "`conveyor worker` processes on any machine",
    ),
    Setting(
        "CONVEYOR_WORKER_TOKEN",
        "(none; required with CONVEYOR_BROKER_URL)",
        "shared token every `conveyor worker` sends to the server",
    ),
    Setting(
        "CONVEYOR_WORKER_LOST_SECONDS",
        "30",
        "a worker not heard from for this many seconds is lost: its running jobs fail "
        "(or are sent again when marked safe to retry) within this bound plus a few seconds",
    ),
    Setting("CONVEYOR_DEBUG", "false", "Django debug mode (never in production)"),
    Setting("CONVEYOR_ADMIN_USER", "admin", "admin account created on the first start"),
    Setting(
        "CONVEYOR_ADMIN_PASSWORD",
        "generated and printed once",
        "password of that admin account on the first start",
    ),
)

_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off", ""))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise SettingError(f"{name}={raw!r}: expected true or false (or 1/0, yes/no, on/off)")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected a whole number") from None
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


# A server run by root keeps its data where system services do; the jobs' sandbox
# user must be able to pass through it to the workspaces (root's home is closed).
SYSTEM_DATA_DIR = "/var/lib/conveyor"


def data_dir() -> Path:
    """``CONVEYOR_DATA``, else the user data directory (root: /var/lib/conveyor); created."""
    raw = env_str("CONVEYOR_DATA")
    if raw:
        path = Path(raw).expanduser()
    elif hasattr(os, "geteuid") and os.geteuid() == 0:
        path = Path(SYSTEM_DATA_DIR)
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("conveyor"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SettingError(
            f"CONVEYOR_DATA: cannot create data directory {path}: {error.strerror}"
        ) from None
    return path.resolve()


def kept_value(path: Path, make: Callable[[], str]) -> str:
    """The text kept in ``path``, generated by ``make()`` and written (mode 0600) on first use.

    The file is created with O_EXCL so two processes starting together agree on one value.
    """
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    value = make()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def secret_key(data: Path) -> str:
    import secrets  # here: `conveyor --help` reads this module and must start fast

    return env_str("CONVEYOR_SECRET_KEY") or kept_value(
        data / "secret_key", lambda: secrets.token_urlsafe(50)
    )


def encryption_keys(data: Path) -> list[str]:
    keys = env_list("CONVEYOR_ENCRYPTION_KEYS")
    if keys:
        return keys

    def new_key() -> str:
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode("ascii")

    return [kept_value(data / "encryption_keys", new_key)]


def workspaces_dir(data: Path) -> Path:
    """``CONVEYOR_WORKSPACES``, else ``<data>/workspaces``; created (0711: the sandbox user
    passes through to its own job's directory, but lists nothing)."""
    raw = env_str("CONVEYOR_WORKSPACES")
    path = Path(raw).expanduser() if raw else data / "workspaces"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o711)
    except OSError as error:
        raise SettingError(f"CONVEYOR_WORKSPACES: cannot create {path}: {error.strerror}") from None
    return path.resolve()
