"""``/api/repositories/{name}/runs``: list, get, jobs, steps, trigger, approve, cancel,
re-run."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from ninja import Field as SchemaField
from ninja import Query, Router, Schema
from ninja import Status as Reply

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.errors import ApiError, bad_input, conflict
from conveyor.server.api.pagination import decode_cursor, encode_cursor
from conveyor.server.api.refs import resolve_ref
from conveyor.server.api.schemas import (
    ErrorOut,
    JobOut,
    RunDetailOut,
    RunPageOut,
    RunSummaryOut,
    StepDetailOut,
    TriggerIn,
    TriggerOut,
)
from conveyor.server.api.serialize import jobs_out, run_detail, run_summary, step_detail
from conveyor.server.repos import git
from conveyor.server.runs import services
from conveyor.server.runs.models import Run, Status

router = Router(tags=["runs"])

PAGE_DEFAULT = 25
PAGE_MAX = 100
STATUSES = [choice.value for choice in Status]


class RunFilters(Schema):
    branch: str | None = SchemaField(None, description="Only runs of this branch.")
    ref: str | None = SchemaField(None, description="Only runs of this full ref.")
    status: str | None = SchemaField(None, description=f"One of {', '.join(STATUSES)}.")
    event: str | None = SchemaField(None, description="push, pull_request, workflow_dispatch…")
    workflow: str | None = SchemaField(None, description="Workflow file or name.")
    cursor: str | None = SchemaField(None, description="next_cursor of the previous page.")
    limit: int = SchemaField(PAGE_DEFAULT, description=f"Runs per page, 1 to {PAGE_MAX}.")


def _rerun_numbers(runs: list[Run]) -> dict[int, int]:
    ids = {run.rerun_of_id for run in runs if run.rerun_of_id is not None}
    if not ids:
        return {}
    return dict(Run.objects.filter(pk__in=ids).values_list("pk", "number"))


@router.get(
    "/{name}/runs",
    response={200: RunPageOut, 400: ErrorOut, 404: ErrorOut},
    summary="List runs, newest first",
)
def list_runs(request: HttpRequest, name: str, filters: Query[RunFilters]) -> dict[str, Any]:
    lookups.require_role(request, Role.VIEWER)
    repository = lookups.repository(name)
    if not 1 <= filters.limit <= PAGE_MAX:
        raise bad_input("limit", f"must be between 1 and {PAGE_MAX}")
    runs = Run.objects.filter(repository=repository).defer("execution", "payload")
    if filters.branch:
        runs = runs.filter(ref=f"refs/heads/{filters.branch}")
    if filters.ref:
        runs = runs.filter(ref=filters.ref)
    if filters.status:
        if filters.status not in STATUSES:
            raise bad_input("status", f"{filters.status!r} is not one of {', '.join(STATUSES)}")
        runs = runs.filter(status=filters.status)
    if filters.event:
        runs = runs.filter(event=filters.event)
    if filters.workflow:
        runs = runs.filter(Q(workflow_path=filters.workflow) | Q(workflow_name=filters.workflow))
    if filters.cursor:
        runs = runs.filter(number__lt=decode_cursor(filters.cursor))
    page = list(runs.defer("payload").order_by("-number")[: filters.limit + 1])
    more = len(page) > filters.limit
    page = page[: filters.limit]
    for run in page:
        run.repository = repository  # one repository: no query per run
    numbers = _rerun_numbers(page)
    return {
        "items": [run_summary(run, numbers) for run in page],
        "next_cursor": encode_cursor(page[-1].number) if more else None,
    }


@router.get(
    "/{name}/runs/{number}",
    response={200: RunDetailOut, 404: ErrorOut},
    summary="Get a run with its jobs, steps, execution table and tracker",
)
def get_run(request: HttpRequest, name: str, number: int) -> dict[str, Any]:
    lookups.require_role(request, Role.VIEWER)
    return run_detail(lookups.run(name, number))


@router.get(
    "/{name}/runs/{number}/jobs",
    response={200: list[JobOut], 404: ErrorOut},
    summary="List a run's jobs with their steps",
)
def list_jobs(request: HttpRequest, name: str, number: int) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.VIEWER)
    return jobs_out(lookups.run(name, number))


@router.get(
    "/{name}/runs/{number}/jobs/{job}",
    response={200: JobOut, 404: ErrorOut},
    summary="Get one job with its steps",
)
def get_job(request: HttpRequest, name: str, number: int, job: int) -> dict[str, Any]:
    lookups.require_role(request, Role.VIEWER)
    run = lookups.run(name, number)
    found = lookups.job(run, job)
    return next(body for body in jobs_out(run) if body["id"] == found.pk)


@router.get(
    "/{name}/runs/{number}/jobs/{job}/steps/{index}",
    response={200: StepDetailOut, 404: ErrorOut},
    summary="Get one step with its annotations and summary",
)
def get_step(request: HttpRequest, name: str, number: int, job: int, index: int) -> dict[str, Any]:
    lookups.require_role(request, Role.VIEWER)
    run = lookups.run(name, number)
    found_job = lookups.job(run, job)
    return step_detail(run, found_job, lookups.step(found_job, index))


@router.post(
    "/{name}/runs",
    response={
        201: TriggerOut,
        200: TriggerOut,
        400: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        502: ErrorOut,
    },
    summary="Trigger runs: workflow_dispatch with inputs, or a push run for a ref (member)",
)
def trigger(request: HttpRequest, name: str, body: TriggerIn) -> Reply[dict[str, Any]]:
    user = lookups.require_role(request, Role.MEMBER)
    repository = lookups.repository(name)
    if body.event == "workflow_dispatch" and not (body.workflow or "").strip():
        raise bad_input(
            "workflow", "required for workflow_dispatch (e.g. .github/workflows/ci.yml)"
        )
    if body.event == "push" and body.inputs:
        raise bad_input("inputs", "only workflow_dispatch takes inputs")
    ref, sha = resolve_ref(repository, body.ref, body.sha)
    payload: dict[str, Any] = {"ref": ref, "after": sha, "sender": {"login": user.username}}
    if body.event == "workflow_dispatch":
        payload = {"ref": ref, "inputs": dict(body.inputs), "sender": {"login": user.username}}
    # No transaction around it: it fetches with git first, and a transaction would hold
    # SQLite's write lock (and the workers) for as long as that takes.
    try:
        runs = services.create_runs_for_event(
            repository,
            event=body.event,
            ref=ref,
            sha=sha,
            payload=payload,
            inputs=dict(body.inputs) if body.event == "workflow_dispatch" else None,
            actor=user.username,
            only_workflow=(body.workflow or "").strip() or None,
        )
    except services.RunRequestInvalid as invalid:
        raise bad_input(invalid.field or "inputs", str(invalid)) from None
    except git.GitError as error:
        raise ApiError(502, f"cannot read repository {repository.name!r}: {error}") from None
    if not runs:
        if body.event == "workflow_dispatch":
            raise bad_input(
                "workflow",
                f"{body.workflow} does not run on workflow_dispatch "
                "(its on: has no workflow_dispatch)",
            )
        return Reply(200, {"runs": [], "detail": f"no workflow runs on push to {ref}"})
    listed = ", ".join(f"#{run.number}" for run in runs)
    return Reply(
        201,
        {
            "runs": [run_summary(run) for run in runs],
            "detail": f"queued run {listed}" if len(runs) == 1 else f"queued runs {listed}",
        },
    )


@router.post(
    "/{name}/runs/{number}/approve",
    response={202: RunSummaryOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Approve a run waiting for approval (a pull request from a fork) (member)",
)
def approve_run(request: HttpRequest, name: str, number: int) -> Reply[dict[str, Any]]:
    """The run is queued and runs, still without secrets; who approved it and when are
    recorded. 409 when it is not waiting (already approved, cancelled, or not a fork's)."""
    user = lookups.require_role(request, Role.MEMBER)
    run = lookups.run(name, number)
    try:
        services.approve(run, by=user.username)
    except services.RunRequestInvalid as invalid:
        raise conflict(str(invalid)) from None
    return Reply(202, run_summary(run))


@router.post(
    "/{name}/runs/{number}/cancel",
    response={202: RunSummaryOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Cancel a waiting, queued or running run (member)",
)
def cancel_run(request: HttpRequest, name: str, number: int) -> Reply[dict[str, Any]]:
    user = lookups.require_role(request, Role.MEMBER)
    run = lookups.run(name, number)
    if run.finished:
        raise conflict(f"run #{run.number} has already finished ({run.status})")
    services.cancel(run, reason=f"cancelled by {user.username}")
    run.refresh_from_db()
    return Reply(202, run_summary(run))


class RerunFilters(Schema):
    failed: bool = SchemaField(False, description="Re-run only the failed jobs (and dependents).")


@router.post(
    "/{name}/runs/{number}/rerun",
    response={201: RunSummaryOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 502: ErrorOut},
    summary="Re-run a finished run, or only its failed jobs with ?failed=1 (member)",
)
def rerun_run(
    request: HttpRequest, name: str, number: int, options: Query[RerunFilters]
) -> Reply[dict[str, Any]]:
    user = lookups.require_role(request, Role.MEMBER)
    run = lookups.run(name, number)
    if not run.finished:
        raise conflict(
            f"run #{run.number} is still {run.status}: wait for it or cancel it before re-running"
        )
    try:
        new = services.rerun(run, failed_only=options.failed, by=user.username)
    except services.RunRequestInvalid as invalid:
        raise conflict(str(invalid)) from None
    except git.GitError as error:
        raise ApiError(502, f"cannot read repository {name!r}: {error}") from None
    new.repository = run.repository
    return Reply(201, run_summary(new))
