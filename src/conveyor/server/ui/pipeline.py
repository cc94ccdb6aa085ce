"""The run page's pictures of a run: the seed's tables and its concept flow.

The execution table and the pipeline-status tracker are the engine's own, as the
``DatabaseSink`` recorded them (``conveyor.server.runs.execution``), so the page
words everything exactly as ``conveyor run`` does. The concept flow is the seed's
picture: Commit → Trigger → each stage → Production → Feedback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conveyor.server.runs.execution import execution_of
from conveyor.server.runs.models import Run, Status

_WORST_FIRST = ["failure", "cancelled", "running", "waiting", "queued", "success", "skipped"]


def combined_status(statuses: list[str]) -> str:
    """One status for several (matrix instances): the most telling one."""
    if not statuses:
        return Status.QUEUED
    return min(
        statuses, key=lambda status: _WORST_FIRST.index(status) if status in _WORST_FIRST else 9
    )


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


def picture_of(run: Run) -> RunPicture:
    """The tracker, execution table, stage list and concept flow of ``run``."""
    execution = execution_of(run)
    stages = [{"name": stage["name"], "status": stage["status"]} for stage in execution.stages]
    return RunPicture(
        tracker=execution.tracker,
        table=execution.table,
        stages=stages,
        flow=concept_flow(run, stages),
    )


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
        _trigger_node(run),
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


def _trigger_node(run: Run) -> dict[str, str]:
    if run.status == Status.WAITING:
        return {"name": "Trigger", "detail": f"{run.event}: approval", "status": Status.WAITING}
    return {"name": "Trigger", "detail": run.event, "status": Status.SUCCESS}
