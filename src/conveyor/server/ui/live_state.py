"""What the live stream sends about a run besides log lines: statuses and the seed's tables."""

from __future__ import annotations

from typing import Any

from conveyor.server.dispatch.overview import job_facts, shown_reason
from conveyor.server.runs.models import Run
from conveyor.server.ui.notes import annotation_records, summaries_of
from conveyor.server.ui.pipeline import combined_status, picture_of
from conveyor.server.ui.templatetags.conveyor_ui import duration_text


def run_state(run: Run) -> dict[str, Any]:
    """The run, its jobs and steps (statuses, durations), the tables and the concept flow."""
    jobs = list(run.jobs.prefetch_related("steps"))
    facts = job_facts(run, jobs)
    picture = picture_of(run)
    graph: dict[str, list[str]] = {}
    for job in jobs:
        graph.setdefault(job.job_id, []).append(job.status)
    return {
        "run": {
            "status": run.status,
            "pipeline_status": run.pipeline_status,
            "reason": run.reason,
            "duration": duration_text(run.duration),
            "finished": run.finished,
        },
        "jobs": [
            {
                "id": job.pk,
                "job_id": job.job_id,
                "name": job.name or job.job_key,
                "status": job.status,
                "duration": duration_text(_span(job.started_at, job.finished_at)),
                "reason": shown_reason(job, facts[job.pk]),
                "worker": facts[job.pk].worker,
            }
            for job in jobs
        ],
        "waiting_deployments": _waiting_deployments(run),
        "steps": [
            {
                "id": step.pk,
                "job": job.pk,
                "number": step.index + 1,
                "name": step.name,
                "status": step.status,
                "duration": duration_text(_span(step.started_at, step.finished_at)),
            }
            for job in jobs
            for step in job.steps.all()
        ],
        "annotations": annotation_records(run),
        "summaries": summaries_of(jobs),
        "graph": {job_id: combined_status(statuses) for job_id, statuses in graph.items()},
        **picture.as_dict(),
    }


def _waiting_deployments(run: Run) -> list[dict[str, Any]]:
    """The run's deployments a member may approve, with where the decision goes."""
    from django.urls import reverse

    from conveyor.server.ui.views.environments import waiting_deployments

    return [
        {
            "id": deployment.pk,
            "job_key": deployment.job_key,
            "environment": deployment.environment.name,
            "environment_url": reverse(
                "ui:environment", args=[run.repository.name, deployment.environment.name]
            ),
            "decide_url": reverse(
                "ui:deployment-decide",
                args=[run.repository.name, deployment.environment.name, deployment.pk],
            ),
        }
        for deployment in waiting_deployments(run.pk)
        if deployment.environment is not None
    ]


def _span(started: Any, finished: Any) -> Any:
    if started is None:
        return None
    if finished is None:
        from django.utils import timezone

        return timezone.now() - started
    return finished - started
