"""The hook through which the engine asks before a job deploys to an ``environment:``.

The engine knows no protection rules: whoever runs it (the server) may set
``RunOptions.environment_gate``. A job that names an environment calls the gate once,
after its host is ready and before its first step; the gate blocks until the job may
go on (approved, the environment free) and returns what the environment adds, or
raises ``EnvironmentRefused`` (the job then ends with that status and reason, and no
step runs). When the job ends, the engine calls ``grant.release`` with its status,
exactly once, so a gate that hands out one deployment at a time can pass it on.
"""

from __future__ import annotations

from collections.abc import Callable

from conveyor.engine.events import Status
from conveyor.executors.base import Cancellation
from conveyor.records import field, record


@record
class EnvironmentRequest:
    job_key: str
    job_id: str
    name: str  # the environment's name, its expressions evaluated
    url: str  # environment.url evaluated before the first step ("" if none)
    cancellation: Cancellation  # set when the run (or this job) is cancelled


def _nothing(status: Status, url: str) -> None:
    return None


@record
class EnvironmentGrant:
    # Added to the run's for this job (a name given here wins over the repository's).
    secrets: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    # Called once when the job ends, with its status and environment.url evaluated then.
    release: Callable[[Status, str], None] = _nothing


class EnvironmentRefused(Exception):
    """The job may not deploy (a branch the environment does not allow, a cancel while
    it waited): it ends with ``status`` and this message as its reason."""

    def __init__(self, reason: str, status: Status = Status.FAILURE) -> None:
        super().__init__(reason)
        self.status = status


EnvironmentGate = Callable[[EnvironmentRequest], EnvironmentGrant]
