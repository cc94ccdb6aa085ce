"""Rows turned into the API's response bodies, field by field (see ``schemas.py``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Sum

from conveyor.server.api.execution import execution_of
from conveyor.server.dispatch.overview import job_facts, shown_reason
from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Job, Run, Step


def api_path(*parts: object) -> str:
    return "/api/" + "/".join(str(part) for part in parts)


def absolute(path: str) -> str:
    return f"{settings.CONVEYOR_URL}{path}"


def run_html_url(run: Run) -> str:
    return absolute(f"/repos/{run.repository.name}/runs/{run.number}/")


def repository_out(repository: Repository, last_run: Run | None = None) -> dict[str, Any]:
    return {
        "name": repository.name,
        "url": repository.url,
        "default_branch": repository.default_branch,
        "poll_interval": repository.poll_interval,
        "require_fork_approval": repository.require_fork_approval,
        "created_at": repository.created_at,
        "last_run": run_summary(last_run) if last_run is not None else None,
        "html_url": absolute(f"/repos/{repository.name}/"),
    }


def run_summary(run: Run, rerun_numbers: dict[int, int] | None = None) -> dict[str, Any]:
    duration = run.duration
    if run.rerun_of_id is None:
        rerun_of = None
    elif rerun_numbers is not None and run.rerun_of_id in rerun_numbers:
        rerun_of = rerun_numbers[run.rerun_of_id]
    else:
        rerun_of = Run.objects.filter(pk=run.rerun_of_id).values_list("number", flat=True).first()
    return {
        "id": run.pk,
        "repository": run.repository.name,
        "number": run.number,
        "workflow_path": run.workflow_path,
        "workflow_name": run.workflow_name,
        "event": run.event,
        "ref": run.ref,
        "branch": run.branch,
        "sha": run.sha,
        "commit_message": run.commit_message,
        "commit_author": run.commit_author,
        "actor": run.actor,
        "status": run.status,
        "reason": run.reason,
        "pipeline_status": run.pipeline_status,
        "attempt": run.attempt,
        "rerun_of": rerun_of,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": duration.total_seconds() if duration is not None else None,
        "cancel_requested": run.cancel_requested,
        "from_fork": run.from_fork,
        "approved_by": run.approved_by,
        "approved_at": run.approved_at,
        "html_url": run_html_url(run),
    }


def step_path(run: Run, job: Job, step: Step) -> str:
    return api_path(
        "repositories", run.repository.name, "runs", run.number, "jobs", job.pk, "steps", step.index
    )


def step_out(run: Run, job: Job, step: Step, log_lines: int | None = None) -> dict[str, Any]:
    if log_lines is None:
        log_lines = step.log_chunks.aggregate(total=Sum("line_count"))["total"] or 0
    path = step_path(run, job, step)
    return {
        "index": step.index,
        "name": step.name,
        "command": step.command,
        "status": step.status,
        "outcome": step.outcome,
        "exit_code": step.exit_code,
        "reason": step.reason,
        "started_at": step.started_at,
        "finished_at": step.finished_at,
        "log_lines": log_lines,
        "log_url": absolute(f"{path}/log"),
        "log_download_url": absolute(f"{path}/log.txt"),
    }


def step_detail(run: Run, job: Job, step: Step) -> dict[str, Any]:
    body = step_out(run, job, step)
    body["summary_markdown"] = step.summary_markdown
    body["annotations"] = [
        {
            "level": note.level,
            "message": note.message,
            "file": note.file,
            "line": note.line,
            "column": note.column,
            "title": note.title,
        }
        for note in step.annotations.all()
    ]
    return body


def jobs_out(run: Run) -> list[dict[str, Any]]:
    """Every job of ``run`` with its steps, in three queries whatever their number."""
    jobs = list(run.jobs.order_by("order", "id"))
    facts = job_facts(run, jobs)
    steps = (
        Step.objects.filter(job__run=run)
        .annotate(line_total=Sum("log_chunks__line_count"))
        .order_by("job_id", "index")
    )
    steps_of: dict[int, list[Step]] = {}
    for step in steps:
        steps_of.setdefault(step.job_id, []).append(step)
    return [
        {
            "id": job.pk,
            "job_key": job.job_key,
            "job_id": job.job_id,
            "name": job.name,
            "matrix": job.matrix,
            "needs": list(job.needs or []),
            "status": job.status,
            "reason": shown_reason(job, facts[job.pk]),
            "worker": facts[job.pk].worker,
            "outputs": job.outputs,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "steps": [
                step_out(run, job, step, step.line_total or 0) for step in steps_of.get(job.pk, [])
            ],
        }
        for job in jobs
    ]


def run_detail(run: Run) -> dict[str, Any]:
    body = run_summary(run)
    execution = execution_of(run)
    body.update(
        {
            "before_sha": run.before_sha,
            "inputs": run.inputs,
            "concurrency_group": run.concurrency_group,
            "jobs": jobs_out(run),
            "execution_table": [
                {
                    "step": row.step,
                    "action": row.action,
                    "command": row.command,
                    "result": row.result,
                    "next_step": row.next_step,
                }
                for row in execution.table
            ],
            "tracker": [
                {"column": column, "pipeline_status": status}
                for column, status in execution.tracker
            ],
        }
    )
    return body
