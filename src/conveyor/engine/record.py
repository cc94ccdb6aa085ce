"""``RunRecorder``: a sink that keeps a run's structure (no log text) for tests and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conveyor.engine.events import (
    Annotation,
    Event,
    JobFinished,
    JobStarted,
    LogLines,
    RunFinished,
    RunStarted,
    Status,
    StepFinished,
    StepStarted,
    StepSummary,
)


@dataclass
class StepRecord:
    index: int
    name: str
    command: str = ""
    status: Status = Status.QUEUED  # the conclusion
    outcome: Status = Status.QUEUED
    duration: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    started: bool = False  # False for a skipped step: it never had a StepStarted
    log_events: int = 0  # LogLines events received, not their text
    annotations: list[Annotation] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)


@dataclass
class JobRecord:
    job_key: str
    job_id: str
    name: str
    matrix: dict[str, Any] = field(default_factory=dict)
    status: Status = Status.QUEUED
    duration: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    continued_on_error: bool = False
    started: bool = False  # False for a job skipped or cancelled before it ran
    steps: dict[int, StepRecord] = field(default_factory=dict)  # by step index, in order seen

    def step(self, index: int) -> StepRecord:
        return self.steps[index]

    def step_named(self, name: str) -> StepRecord:
        for record in self.steps.values():
            if record.name == name:
                return record
        raise KeyError(f"no step named {name!r} in job {self.job_key!r}")


@dataclass
class RunRecorder:
    """Feed it every event; read ``status``, ``jobs``, ``annotations`` and ``summaries``."""

    workflow: str = ""
    path: str = ""
    event: str = ""
    ref: str = ""
    sha: str = ""
    job_ids: list[str] = field(default_factory=list)
    status: Status = Status.QUEUED
    duration: float | None = None
    reason: str | None = None
    jobs: dict[str, JobRecord] = field(default_factory=dict)  # by job_key, in order seen
    annotations: list[Annotation] = field(default_factory=list)
    summaries: list[StepSummary] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)  # every event's type, in order

    def emit(self, event: Event) -> None:
        self.event_types.append(event.type)
        if isinstance(event, LogLines):
            self._step(event.job_key, event.step).log_events += 1
        elif isinstance(event, RunStarted):
            self.status = Status.RUNNING
            self.workflow, self.path, self.event = event.workflow, event.path, event.event
            self.ref, self.sha, self.job_ids = event.ref, event.sha, list(event.jobs)
        elif isinstance(event, JobStarted):
            job = self._job(event.job_key, event.job_id, event.name)
            job.matrix = dict(event.matrix)
            job.status = Status.RUNNING
            job.started = True
        elif isinstance(event, StepStarted):
            step = self._step(event.job_key, event.step, event.name)
            step.name, step.command = event.name, event.command
            step.status = step.outcome = Status.RUNNING
            step.started = True
        elif isinstance(event, StepFinished):
            step = self._step(event.job_key, event.step, event.name)
            step.name, step.status, step.outcome = event.name, event.status, event.outcome
            step.duration, step.exit_code = event.duration, event.exit_code
            step.reason = event.reason
            step.outputs = dict(event.outputs)
        elif isinstance(event, Annotation):
            self.annotations.append(event)
            self._step(event.job_key, event.step).annotations.append(event)
        elif isinstance(event, StepSummary):
            self.summaries.append(event)
            self._step(event.job_key, event.step).summaries.append(event.markdown)
        elif isinstance(event, JobFinished):
            job = self._job(event.job_key, event.job_id, event.name)
            if event.name:
                job.name = event.name
            if event.matrix:
                job.matrix = dict(event.matrix)
            job.status, job.duration, job.reason = event.status, event.duration, event.reason
            job.outputs = dict(event.outputs)
            job.continued_on_error = event.continued_on_error
        elif isinstance(event, RunFinished):
            self.status, self.duration, self.reason = event.status, event.duration, event.reason

    def job(self, job_key: str) -> JobRecord:
        return self.jobs[job_key]

    def statuses(self) -> dict[str, Status]:
        """Each job's status by job_key: the quickest thing for a test to compare."""
        return {key: job.status for key, job in self.jobs.items()}

    def _job(self, job_key: str, job_id: str | None = None, name: str = "") -> JobRecord:
        job = self.jobs.get(job_key)
        if job is None:
            job = JobRecord(job_key=job_key, job_id=job_id or job_key, name=name or job_key)
            self.jobs[job_key] = job
        return job

    def _step(self, job_key: str, index: int, name: str = "") -> StepRecord:
        job = self._job(job_key)
        step = job.steps.get(index)
        if step is None:
            step = StepRecord(index=index, name=name)
            job.steps[index] = step
        return step
