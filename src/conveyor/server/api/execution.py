"""The seed's execution table and pipeline-status tracker, rebuilt from a run's rows.

The engine's ``PipelineTracker`` draws both from a run's events; the server
keeps the same facts in Job and Step rows, so this turns rows into the tracker's
stages (a stage is a step when the run has one job, else a job, as in the
engine) and lets the tracker draw the tables: the same words in the CLI, the UI
and the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.engine.events import Status as EngineStatus
from conveyor.engine.pipeline_status import PipelineTracker, Stage, TableRow
from conveyor.server.runs.models import Job, LogChunk, Run, Step


@dataclass
class _RowTracker(PipelineTracker):
    """A tracker whose stages come from rows, not from a workflow's events."""

    def __post_init__(self) -> None:
        pass  # the stages are given


@dataclass(frozen=True)
class Execution:
    table: list[TableRow]
    tracker: list[tuple[str, str]]


def _status(value: str) -> EngineStatus:
    try:
        return EngineStatus(value)
    except ValueError:
        return EngineStatus.QUEUED


def _seconds(row: Job | Step) -> float | None:
    if row.started_at is None or row.finished_at is None:
        return None
    return (row.finished_at - row.started_at).total_seconds()


def _first_line(command: str) -> str:
    lines = [line for line in command.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[0] + (" …" if len(lines) > 1 else "")


def _last_log_line(step: Step) -> str:
    last = LogChunk.objects.filter(step=step).order_by("-seq").values_list("text", flat=True)[:1]
    for text in last:
        for line in reversed(text[-500:].split("\n")):
            line = line.strip()
            if line and not line.startswith("##["):
                return line
    return ""


_WORST_FIRST = [
    EngineStatus.FAILURE,
    EngineStatus.CANCELLED,
    EngineStatus.RUNNING,
    EngineStatus.QUEUED,
    EngineStatus.SUCCESS,
    EngineStatus.SKIPPED,
]


def _combined(statuses: list[EngineStatus]) -> EngineStatus:
    """One status for several matrix parts: the worst, running while any part runs."""
    if not statuses:
        return EngineStatus.QUEUED
    if EngineStatus.RUNNING in statuses:
        return EngineStatus.RUNNING
    return min(statuses, key=_WORST_FIRST.index)


def _step_stages(jobs: list[Job]) -> list[Stage]:
    by_index: dict[int, list[Step]] = {}
    for job in jobs:
        for step in job.steps.all():
            by_index.setdefault(step.index, []).append(step)
    stages = []
    for index in sorted(by_index):
        steps = by_index[index]
        first = steps[0]
        stage = Stage(name=first.name or f"step {index + 1}", command=_first_line(first.command))
        stage.status = _combined([_status(step.status) for step in steps])
        durations = [d for d in (_seconds(step) for step in steps) if d is not None]
        stage.duration = max(durations) if durations else None
        stage.reason = next((step.reason for step in steps if step.reason), None)
        if stage.status != EngineStatus.QUEUED:
            stage.last_line = _last_log_line(steps[-1])
        stages.append(stage)
    return stages


def _job_stages(jobs: list[Job]) -> list[Stage]:
    by_id: dict[str, list[Job]] = {}
    for job in jobs:
        by_id.setdefault(job.job_id, []).append(job)
    stages = []
    for parts in by_id.values():
        first = parts[0]
        steps = list(first.steps.all())
        commands = [_first_line(step.command) for step in steps]
        command = commands[0] if len(commands) == 1 else ""
        if len(commands) > 1:
            command = f"{commands[0]} (+{len(commands) - 1} more)"
        name = first.job_id if first.matrix else (first.name or first.job_id)
        stage = Stage(name=name, command=command)
        statuses = [_status(job.status) for job in parts]
        stage.status = _combined(statuses)
        stage.parts = sum(1 for s in statuses if s != EngineStatus.QUEUED)
        stage.failed_parts = statuses.count(EngineStatus.FAILURE)
        durations = [d for d in (_seconds(job) for job in parts) if d is not None]
        stage.duration = max(durations) if durations else None
        stage.reason = next((job.reason for job in parts if job.reason), None)
        stages.append(stage)
    return stages


def execution_of(run: Run) -> Execution:
    """The execution table and the tracker of ``run`` as its rows stand now."""
    jobs = list(run.jobs.prefetch_related("steps").order_by("order", "id"))
    if not jobs:
        return Execution(table=[], tracker=[("Start", run.pipeline_status)])
    one_job = len({job.job_id for job in jobs}) == 1
    stages = _step_stages(jobs) if one_job else _job_stages(jobs)
    tracker = _RowTracker(workflow=None, stages=stages)  # type: ignore[arg-type]
    tracker.run_status = _status(run.status)
    tracker.run_reason = run.reason or None
    return Execution(table=tracker.table(), tracker=tracker.tracker())
