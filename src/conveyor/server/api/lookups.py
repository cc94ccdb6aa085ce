"""Finding what a URL names, or a 404 that says what was not found; and role checks."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from conveyor.server.accounts.permissions import has_role, refusal
from conveyor.server.api.errors import forbidden, not_found
from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Job, Run, Step


def require_role(request: HttpRequest, needed: str) -> Any:
    """The request's user, or a 403 saying which role is needed."""
    user = request.auth  # type: ignore[attr-defined]
    if not has_role(user, needed):
        raise forbidden(refusal(user, needed))
    return user


def repository(name: str) -> Repository:
    found = Repository.objects.filter(name=name).first()
    if found is None:
        raise not_found(f"no repository named {name!r}")
    return found


def run(name: str, number: int) -> Run:
    found = (
        Run.objects.select_related("repository")
        .filter(repository__name=name, number=number)
        .first()
    )
    if found is None:
        repository(name)  # a missing repository says so
        raise not_found(f"repository {name!r} has no run #{number}")
    return found


def job(of_run: Run, job: int) -> Job:
    found = Job.objects.filter(run=of_run, pk=job).first()
    if found is None:
        raise not_found(f"run #{of_run.number} of {of_run.repository.name!r} has no job {job}")
    return found


def step(of_job: Job, index: int) -> Step:
    found = Step.objects.filter(job=of_job, index=index).first()
    if found is None:
        raise not_found(f"job {of_job.job_key!r} has no step {index}")
    return found
