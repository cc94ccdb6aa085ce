"""Which executor runs a worker's jobs: the bubblewrap sandbox, unless switched off.

As on the server (``server/runs/sandboxing.py``, whose settings a worker reads
from its environment too): each job runs in its own sandbox unless the worker
was started with ``--no-sandbox``; a worker run by root lends its jobs
``CONVEYOR_SANDBOX_USER`` (default ``nobody``); ``CONVEYOR_SANDBOX_NETWORK=false``
gives each job a network of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

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
from conveyor.records import record

NO_SANDBOX_WARNING = (
    "JOBS ARE NOT SANDBOXED (--no-sandbox): every workflow runs as this worker's user "
    "and can read its directory and the other jobs' workspaces. Use it only when every "
    "workflow the server sends is trusted."
)
_FALSE = ("0", "false", "no", "off")


@record(frozen=True)
class SandboxChoice:
    """How this worker's jobs run; ``bwrap`` None: unsandboxed."""

    bwrap: str | None = None
    run_as: tuple[int, int] | None = None  # (uid, gid) of the jobs, when root runs the worker
    network: bool = True

    @property
    def jobs_run_as_another_user(self) -> bool:
        return self.bwrap is not None and self.run_as is not None

    def executor(self, job_dir: Path, borrowed: Path | None) -> Executor:
        """The executor of one job; its private directories go under ``job_dir``."""
        if self.bwrap is None:
            return LocalExecutor()
        policy = SandboxPolicy(
            network=self.network,
            run_as=self.run_as,
            readonly_paths=() if borrowed is None else (str(borrowed),),
            state_dir=str(job_dir / ".jobs"),
        )
        return SandboxExecutor(policy, self.bwrap)


def choose(sandbox: bool, workspaces: Path) -> SandboxChoice:
    """Check that jobs can be sandboxed here (when asked); raises SandboxUnavailable."""
    if not sandbox:
        return SandboxChoice()
    network = os.environ.get("CONVEYOR_SANDBOX_NETWORK", "true").strip().lower() not in _FALSE
    run_as = _sandbox_identity()
    bwrap = check_available(SandboxPolicy(run_as=run_as))
    if run_as is not None:
        closed = unreachable_part(str(workspaces), *run_as)
        if closed is not None:
            raise SandboxUnavailable(
                f"the sandbox user cannot reach the workspaces directory {workspaces}: "
                f"{closed} is closed to it (let it pass: chmod o+x, or choose another --dir)"
            )
    return SandboxChoice(bwrap=bwrap, run_as=run_as, network=network)


def _sandbox_identity() -> tuple[int, int] | None:
    return run_as_identity(os.environ.get("CONVEYOR_SANDBOX_USER", "nobody"))
