"""Which executor runs a server's jobs: the bubblewrap sandbox, unless switched off.

The server runs untrusted workflows, so each job is sandboxed (see
``conveyor.executors.sandbox``) unless ``CONVEYOR_SANDBOX`` is false, which
``conveyor server --no-sandbox`` sets and announces loudly. A server run by root
lends its jobs ``CONVEYOR_SANDBOX_USER`` (default ``nobody``) instead of root.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from django.conf import settings

from conveyor.executors.base import Executor
from conveyor.executors.local import LocalExecutor
from conveyor.executors.sandbox import (
    SandboxExecutor,
    SandboxPolicy,
    SandboxUnavailable,
    check_available,
    run_as_identity,
    unreachable_part,
)

NO_SANDBOX_WARNING = (
    "JOBS ARE NOT SANDBOXED (--no-sandbox): every workflow runs as this server's user "
    "and can read its data directory, its keys and every repository's secrets. Use it "
    "only when every workflow this server runs is trusted."
)

_checked: str | None = None
_check_lock = threading.Lock()


def enabled() -> bool:
    return bool(settings.CONVEYOR_SANDBOX)


def jobs_run_as_another_user() -> bool:
    """Whether the jobs run as a user other than this server's (a root server's)."""
    return enabled() and sandbox_identity() is not None


def sandbox_identity() -> tuple[int, int] | None:
    """The (uid, gid) the sandboxes run as: None unless this process is root."""
    return run_as_identity(str(settings.CONVEYOR_SANDBOX_USER))


def check() -> str:
    """Check once that jobs can be sandboxed here; the bwrap to use. Raises SandboxUnavailable."""
    global _checked
    with _check_lock:
        if _checked is None:
            identity = sandbox_identity()
            bwrap = check_available(SandboxPolicy(run_as=identity))
            workspaces = Path(settings.WORKSPACES_DIR)
            if identity is not None:
                closed = unreachable_part(str(workspaces), *identity)
                if closed is not None:
                    user = settings.CONVEYOR_SANDBOX_USER
                    raise SandboxUnavailable(
                        f"the sandbox user {user} cannot reach the workspaces directory "
                        f"{workspaces}: {closed} is closed to it. Set CONVEYOR_WORKSPACES to "
                        "a directory it can pass through (or let it pass: chmod o+x)"
                    )
            _checked = bwrap
        return _checked


def secure_data_dir() -> None:
    """Only the server reads its data directory; a root server's sandbox user may pass
    through it to the workspaces below, but read nothing on the way."""
    data = Path(settings.DATA_DIR)
    others_pass = jobs_run_as_another_user()
    if data.stat().st_uid == os.geteuid():
        data.chmod(0o711 if others_pass else 0o700)
    for name in ("conveyor.sqlite3", "conveyor.sqlite3-wal", "conveyor.sqlite3-shm"):
        path = data / name
        if path.exists():
            path.chmod(0o600)
    for name in ("mirrors", "store"):  # the store: fetched actions, ...
        private = data / name
        private.mkdir(mode=0o700, exist_ok=True)
        private.chmod(0o700)


def executor_for_run(run_dir: Path, borrowed: Path | None) -> Executor:
    """The executor for one run's jobs; raises SandboxUnavailable when it cannot be made."""
    if not enabled():
        return LocalExecutor()
    bwrap = check()
    policy = SandboxPolicy(
        network=bool(settings.CONVEYOR_SANDBOX_NETWORK),
        run_as=sandbox_identity(),
        readonly_paths=() if borrowed is None else (str(borrowed),),
        state_dir=str(run_dir / ".jobs"),
    )
    return SandboxExecutor(policy, bwrap)
