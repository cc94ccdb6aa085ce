"""What a run returns: the status of the run, each job and each step."""

from __future__ import annotations

from typing import Any

from conveyor.engine.events import Status
from conveyor.records import field, record


@record
class StepResult:
    index: int
    id: str | None
    name: str
    status: Status  # the conclusion, after continue-on-error
    outcome: Status  # before continue-on-error
    duration: float = 0.0
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # masked
    reason: str | None = None


@record
class JobResult:
    job_key: str
    job_id: str
    name: str
    status: Status
    outputs: dict[str, str] = field(default_factory=dict)  # masked
    steps: list[StepResult] = field(default_factory=list)
    matrix: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    reason: str | None = None
    # Failed, but ``continue-on-error`` keeps the run (and the jobs that need it) going.
    continued_on_error: bool = False


@record
class RunResult:
    status: Status
    duration: float
    jobs: dict[str, JobResult] = field(default_factory=dict)  # by job_key
    reason: str | None = None
