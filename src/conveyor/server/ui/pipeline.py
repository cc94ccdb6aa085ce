"""The run page's pictures of a run, built from its Run/Job/Step rows.

The execution table and the pipeline-status tracker are the engine's own
(``conveyor.engine.pipeline_status``): the rows are turned back into its
``Stage`` records — a stage is a step when the run has one job, else a job —
so the page words everything exactly as ``conveyor run`` does. The concept flow
is the seed's picture: Commit → Trigger → each stage → Production → Feedback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conveyor.engine.events import Status as EngineStatus
from conveyor.engine.pipeline_status import PipelineTracker, Stage
from conveyor.server.runs.models import Job, LogChunk, Run, Status, Step
from conveyor.server.ui.ansi import strip_ansi
from conveyor.workflow.errors import Position
from conveyor.workflow.model import Workflow

_WORST_FIRST = ["failure", "cancelled", "running", "queued", "success", "skipped"]


def combined_status(statuses: list[str]) -> str:
    """One status for several (matrix instances): the most telling one."""
    if not statuses:
        return Status.QUEUED
    return min(
        statuses, key=lambda status: _WORST_FIRST.index(status) if status in _WORST_FIRST else 9
    )


def _seconds(started: Any, finished: Any) -> float | None:
    if started is None or finished is None:
        return None
    return (finished - started).total_seconds()


def _last_line(step_ids: list[int]) -> str:
    for step_id in reversed(step_ids):
        chunk = LogChunk.objects.filter(step_id=step_id).order_by("-seq").only("text").first()
        if chunk is None:
            continue
        for line in reversed(strip_ansi(chunk.text[-500:]).split("\n")):
            line = line.strip()
            if line and not line.startswith("##["):
                return line
    return ""


def _stage(
    name: str, command: str, status: str, duration: float | None, reason: str, step_ids: list[int]
) -> Stage:
    stage = Stage(name=name, command=command, status=EngineStatus(status), duration=duration)
    stage.reason = reason or None
    if status not in (Status.QUEUED, Status.SKIPPED):
        stage.last_line = _last_line(step_ids)
    return stage


@dataclass
class RunPicture:
    """Everything the run page draws besides logs, ready for templates and the live stream."""

    tracker: list[tuple[str, str]]
    table: list[dict[str, str]]
    stages: list[dict[str, str]]
    flow: list[dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tracker": [{"column": column, "value": value} for column, value in self.tracker],
            "table": self.table,
            "flow": self.flow,
        }


def stages_of(run: Run, jobs: list[Job]) -> list[Stage]:
    """The run's stages, in workflow order, from its rows."""
    job_ids = list(dict.fromkeys(job.job_id for job in jobs))
    if len(job_ids) == 1:
        steps_by_index: dict[int, list[Step]] = {}
        for job in jobs:
            for step in job.steps.all():
                steps_by_index.setdefault(step.index, []).append(step)
        stages = []
        for index in sorted(steps_by_index):
            steps = steps_by_index[index]
            first = steps[0]
            stages.append(
                _stage(
                    first.name or f"Step {index + 1}",
                    _first_command_line(first.command),
                    combined_status([step.status for step in steps]),
                    max((_seconds(s.started_at, s.finished_at) or 0.0 for s in steps), default=None)
                    if all(s.finished_at for s in steps)
                    else None,
                    next((s.reason for s in steps if s.reason), ""),
                    [s.pk for s in steps],
                )
            )
        return stages
    stages = []
    for job_id in job_ids:
        instances = [job for job in jobs if job.job_id == job_id]
        steps = [step for job in instances for step in job.steps.all()]
        first_command = _first_command_line(steps[0].command) if steps else ""
        if len(steps) > 1:
            first_command = f"{first_command} (+{len({s.index for s in steps}) - 1} more)"
        finished = all(job.finished_at for job in instances)
        stages.append(
            _stage(
                instances[0].name.split(" (", 1)[0] if len(instances) > 1 else instances[0].name,
                first_command,
                combined_status([job.status for job in instances]),
                max((_seconds(j.started_at, j.finished_at) or 0.0 for j in instances), default=None)
                if finished
                else None,
                next((job.reason for job in instances if job.reason), ""),
                [s.pk for s in steps],
            )
        )
    return stages


def _first_command_line(command: str) -> str:
    lines = [line for line in command.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[0] + (" …" if len(lines) > 1 else "")


def picture_of(run: Run, jobs: list[Job] | None = None) -> RunPicture:
    """The tracker, execution table, stage list and concept flow of ``run``."""
    if jobs is None:
        jobs = list(run.jobs.prefetch_related("steps"))
    tracker = PipelineTracker(
        Workflow(path=run.workflow_path, position=Position(run.workflow_path, 1, 1))
    )
    tracker.stages = stages_of(run, jobs)
    if run.finished:
        tracker.run_status = EngineStatus(run.status)
    table = [
        {
            "step": row.step,
            "action": row.action,
            "command": row.command,
            "result": row.result,
            "next_step": row.next_step,
            "status": tracker.stages[index].status.value
            if index < len(tracker.stages)
            else _end_status(run),
        }
        for index, row in enumerate(tracker.table())
    ]
    stages = [{"name": stage.name, "status": stage.status.value} for stage in tracker.stages]
    return RunPicture(
        tracker=tracker.tracker(),
        table=table,
        stages=stages,
        flow=concept_flow(run, stages),
    )


def _end_status(run: Run) -> str:
    return run.status if run.finished else Status.QUEUED


def concept_flow(run: Run, stages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The seed's flow: Commit → Trigger → stages → Production → Feedback, each with a status.

    Production is reached only when every stage passed (broken code never gets
    there); Feedback is the outcome reported back once the run is over.
    """
    if run.status == Status.SUCCESS:
        production = Status.SUCCESS
    elif run.finished:
        production = Status.SKIPPED
    else:
        production = Status.QUEUED
    feedback = run.status if run.finished else Status.QUEUED
    flow = [
        {"name": "Commit", "detail": run.short_sha or "-", "status": Status.SUCCESS},
        {"name": "Trigger", "detail": run.event, "status": Status.SUCCESS},
    ]
    flow += [
        {"name": stage["name"], "detail": stage["status"], "status": stage["status"]}
        for stage in stages
    ]
    if not stages and run.finished:
        flow.append({"name": "Pipeline", "detail": run.status, "status": run.status})
    flow.append({"name": "Production", "detail": production, "status": production})
    flow.append({"name": "Feedback", "detail": feedback, "status": feedback})
    return flow
