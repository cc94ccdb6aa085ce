"""Where a deploy target keeps its releases and what it knows about them.

Layout of a target directory::

    releases/<UTC timestamp>-<short sha>/   one copy of the project a release
    shared/                                 paths every release links to (media, .env)
    current -> releases/<name>              the release that serves
    .cache/                                 the package cache the releases' venvs share
    .conveyor/releases/<name>.json          a release's state (its server, its migrations)
    .conveyor/proxy...                      the proxy's pid and socket (deploy/proxy.py)

Every state file is written to a temporary name and renamed, so a reader never sees
half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

# A release's states, as DeploymentChanged reports them.
DEPLOYING = "deploying"
HEALTH_CHECKING = "health-checking"
LIVE = "live"
FAILED = "failed"
ROLLED_BACK = "rolled-back"
RETIRED = "retired"  # it served, a later release replaced it (a rollback may bring it back)


class DeployError(Exception):
    """The deploy (or rollback) cannot go on: the message says what and why."""


@dataclass
class ReleaseState:
    name: str
    sha: str = ""
    state: str = DEPLOYING
    created: str = ""
    previous: str = ""  # the release that served when this one was deployed
    settings_module: str = ""
    wsgi: str = ""  # module:callable gunicorn serves
    host_header: str = "localhost"
    health_path: str = "/"
    pid: int = 0  # its gunicorn master, while it runs
    port: int = 0
    # Migrations it applied, in order, and for each app it migrated the migration that
    # was applied before (or "zero"): a rollback runs `migrate <app> <before>`.
    applied: list[list[str]] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    @property
    def upstream(self) -> str:
        return f"127.0.0.1:{self.port}"


class Target:
    """A deploy target directory and the paths in it."""

    def __init__(self, path: str) -> None:
        if path.startswith("ssh://"):
            # deployer's functions hand it to deploy.remote, which runs them on the target
            raise DeployError(f"{path}: an ssh:// target is not a directory of this machine")
        if "://" in path:
            raise DeployError(f"{path}: a target is a local directory")
        self.path = os.path.abspath(os.path.expanduser(path))

    @property
    def releases_dir(self) -> str:
        return os.path.join(self.path, "releases")

    @property
    def shared_dir(self) -> str:
        return os.path.join(self.path, "shared")

    @property
    def current_link(self) -> str:
        return os.path.join(self.path, "current")

    @property
    def cache_dir(self) -> str:
        return os.path.join(self.path, ".cache")

    @property
    def state_dir(self) -> str:
        return os.path.join(self.path, ".conveyor")

    def release_dir(self, name: str) -> str:
        return os.path.join(self.releases_dir, name)

    def _state_file(self, name: str) -> str:
        return os.path.join(self.state_dir, "releases", f"{name}.json")

    def make_dirs(self) -> None:
        for path in (self.releases_dir, self.shared_dir, self.cache_dir, self.state_dir):
            os.makedirs(path, exist_ok=True)
        os.makedirs(os.path.join(self.state_dir, "releases"), exist_ok=True)

    def release_names(self) -> list[str]:
        """The releases on disk, oldest first (their names start with a UTC timestamp)."""
        try:
            return sorted(
                name
                for name in os.listdir(self.releases_dir)
                if os.path.isdir(self.release_dir(name)) and not name.startswith(".")
            )
        except FileNotFoundError:
            return []

    def current(self) -> str | None:
        """The release ``current`` points to, if any."""
        try:
            return os.path.basename(os.readlink(self.current_link))
        except OSError:
            return None

    def load(self, name: str) -> ReleaseState:
        try:
            with open(self._state_file(name), encoding="utf-8") as file:
                data: dict[str, Any] = json.load(file)
        except FileNotFoundError:
            return ReleaseState(name=name, state="unknown")
        except (OSError, ValueError) as error:
            raise DeployError(f"cannot read the state of release {name}: {error}") from None
        fields = ReleaseState.__dataclass_fields__
        known = {key: value for key, value in data.items() if key in fields}
        return ReleaseState(**known)

    def save(self, release: ReleaseState) -> None:
        write_json_atomically(self._state_file(release.name), asdict(release))

    def forget(self, name: str) -> None:
        try:
            os.unlink(self._state_file(name))
        except FileNotFoundError:
            pass

    @contextlib.contextmanager
    def locked(self, log: Callable[[str], None]) -> Iterator[None]:
        """One deploy or rollback at a time on the target: the next one waits."""
        self.make_dirs()
        with open(os.path.join(self.state_dir, "lock"), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"waiting for another deploy to {self.path} to end")
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def record_bind(self, bind: str) -> None:
        """The address the target serves on, for the commands that are not given it."""
        write_json_atomically(os.path.join(self.state_dir, "target.json"), {"bind": bind})

    def recorded_bind(self) -> str | None:
        try:
            with open(os.path.join(self.state_dir, "target.json"), encoding="utf-8") as file:
                return json.load(file).get("bind")
        except (OSError, ValueError):
            return None

    def point_current_to(self, name: str | None) -> None:
        """``current`` now names release ``name`` (None: no release), in one rename."""
        if name is None:
            try:
                os.unlink(self.current_link)
            except FileNotFoundError:
                pass
            return
        temporary = f"{self.current_link}.{os.getpid()}.tmp"
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        os.symlink(os.path.join("releases", name), temporary)
        os.replace(temporary, self.current_link)


def write_json_atomically(path: str, data: Any) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
