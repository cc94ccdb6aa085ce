"""What a worker needs to know: the broker, the server, the token, and its own shape."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path

from conveyor.engine.runner_labels import HostLabels
from conveyor.records import field, record

BROKER_VARIABLE = "CONVEYOR_BROKER_URL"
SERVER_VARIABLE = "CONVEYOR_SERVER_URL"
TOKEN_VARIABLE = "CONVEYOR_WORKER_TOKEN"


class ConfigError(Exception):
    """A setting that is missing or wrong: printed as one line, exit 2."""


@record
class WorkerConfig:
    broker_url: str
    server_url: str
    worker_token: str
    name: str  # the Celery node name, which the server shows
    directory: Path
    concurrency: int = 1
    labels: list[str] = field(default_factory=list)  # --labels, this machine's, self-hosted
    sandbox: bool = True

    @property
    def mirrors_dir(self) -> Path:
        return self.directory / "mirrors"

    @property
    def workspaces_dir(self) -> Path:
        return self.directory / "workspaces"

    @property
    def store_dir(self) -> Path:
        return self.directory / "store"

    @property
    def artifacts_dir(self) -> Path:
        return self.directory / "artifacts"


def default_directory() -> Path:
    """The user's cache directory's ``conveyor/worker``; for root, one its sandbox user
    can pass through to the workspaces (``/root`` is closed to others)."""
    if os.geteuid() == 0:
        return Path("/var/cache/conveyor/worker")
    import platformdirs

    return Path(platformdirs.user_cache_dir("conveyor")) / "worker"


def default_name() -> str:
    return f"conveyor@{socket.gethostname()}"


def node_name(name: str) -> str:
    """A Celery node name (``name@host``): ``name`` itself when it has a host part."""
    name = name.strip()
    if not name:
        raise ConfigError("--name must not be empty")
    if "@" in name:
        return name
    return f"{name}@{socket.gethostname()}"


def worker_labels(given: str | None, host: HostLabels | None = None) -> list[str]:
    """The labels the worker serves: ``given`` (comma-separated), this machine's system
    and architecture labels, and ``self-hosted``; lower case, each once, in that order."""
    host = host or HostLabels.of_this_machine()
    wanted = [label.strip() for label in (given or "").split(",")]
    labels: list[str] = []
    for label in [*wanted, *host.own_labels(), "self-hosted"]:
        label = label.lower()
        if label and label not in labels:
            labels.append(label)
    return labels


def read_config(
    *,
    concurrency: int,
    labels: str | None,
    name: str | None,
    directory: str | None,
    sandbox: bool,
    environ: Mapping[str, str] | None = None,
) -> WorkerConfig:
    """The worker's configuration from the command line and ``environ``; ConfigError."""
    environ = os.environ if environ is None else environ
    values = {}
    for variable in (BROKER_VARIABLE, SERVER_VARIABLE, TOKEN_VARIABLE):
        values[variable] = environ.get(variable, "").strip()
    missing = [variable for variable, value in values.items() if not value]
    if missing:
        raise ConfigError(f"set {' and '.join(missing)} (the worker's settings come from there)")
    server_url = values[SERVER_VARIABLE]
    if not re.match(r"https?://[^/\s]+", server_url):
        raise ConfigError(f"{SERVER_VARIABLE}={server_url!r}: not an http:// or https:// URL")
    broker_url = values[BROKER_VARIABLE]
    if "://" not in broker_url:
        raise ConfigError(
            f"{BROKER_VARIABLE}: not a broker URL (redis://HOST:PORT/0 or amqp://HOST)"
        )
    if concurrency < 1:
        raise ConfigError("--concurrency must be 1 or more")
    for label in (labels or "").split(","):
        if any(character in label for character in "\n\r\t"):
            raise ConfigError("--labels: a label is one line of text")
    place = Path(directory).expanduser() if directory else default_directory()
    return WorkerConfig(
        broker_url=broker_url,
        server_url=server_url,
        worker_token=values[TOKEN_VARIABLE],
        name=node_name(name) if name is not None else default_name(),
        directory=place.absolute(),
        concurrency=concurrency,
        labels=worker_labels(labels),
        sandbox=sandbox,
    )
