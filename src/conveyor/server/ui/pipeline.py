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

    Production says only what the run's deployments reported (``DeploymentChanged``, and
    an environment's approval or queue): "not deployed" when nothing deployed, the live
    state while a deploy step runs, "live", "failed" or "rolled back" at the end.
    Feedback is what the run reported back (its pipeline status) once it is over.
    """
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
    flow.append(production_node(run))
    flow.append(_feedback_node(run))
    return flow


# A deploy step's DeploymentChanged state: how the flow words it, and its status.
_DEPLOYMENT_STATES = {
    "deploying": ("deploying", Status.RUNNING),
    "health-checking": ("health-checking", Status.RUNNING),
    "live": ("live", Status.SUCCESS),
    "failed": ("failed", Status.FAILURE),
    "rolled-back": ("rolled back", Status.FAILURE),
}


def production_node(run: Run) -> dict[str, str]:
    """Production as the run's last deployment left it; "not deployed" without one."""
    from conveyor.server.runs.models import DeploymentStatus

    deployments = list(run.deployments.select_related("environment").order_by("pk"))
    reported = [deployment for deployment in deployments if deployment.state]
    if reported:
        last = reported[-1]
        detail, status = _DEPLOYMENT_STATES.get(last.state, (last.state, Status.RUNNING))
        if status == Status.RUNNING and last.status not in ("running", "queued", "waiting"):
            # The job ended without the deploy step saying how: it did not go live.
            detail, status = f"{detail}, then stopped", Status.FAILURE
        return {"name": "Production", "detail": detail, "status": status}
    for deployment in deployments:
        name = deployment.environment.name if deployment.environment else "production"
        if deployment.status == DeploymentStatus.WAITING:
            return {
                "name": "Production",
                "detail": f"{name}: waiting for approval",
                "status": Status.WAITING,
            }
        if deployment.status == DeploymentStatus.QUEUED:
            return {"name": "Production", "detail": f"{name}: waiting", "status": Status.WAITING}
    if not run.finished:
        return {"name": "Production", "detail": "not deployed yet", "status": Status.QUEUED}
    return {"name": "Production", "detail": "not deployed", "status": Status.SKIPPED}


def _feedback_node(run: Run) -> dict[str, str]:
    if not run.finished:
        return {"name": "Feedback", "detail": "not yet", "status": Status.QUEUED}
    reported = run.pipeline_status if run.pipeline_status != "Not started" else run.status
    return {"name": "Feedback", "detail": reported or run.status, "status": run.status}


def _trigger_node(run: Run) -> dict[str, str]:
    if run.status == Status.WAITING:
        return {"name": "Trigger", "detail": f"{run.event}: approval", "status": Status.WAITING}
    return {"name": "Trigger", "detail": run.event, "status": Status.SUCCESS}
