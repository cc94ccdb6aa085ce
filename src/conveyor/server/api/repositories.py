"""``/api/repositories``: list, get, and (admin) add a repository or change its settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest
from ninja import Router
from ninja import Status as Reply

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.errors import bad_input, conflict
from conveyor.server.api.schemas import (
    ErrorOut,
    RepositoryCreatedOut,
    RepositoryIn,
    RepositoryOut,
    RepositorySettingsIn,
)
from conveyor.server.api.serialize import repository_out
from conveyor.server.repos import refnames
from conveyor.server.repos.adding import (
    RepositoryExists,
    RepositoryRefused,
    add_repository,
    check_name,
)
from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Run

router = Router(tags=["repositories"])

POLL_MIN = 10  # seconds: polling a remote more often is rude to it


def _last_runs(repositories: list[Repository]) -> dict[int, Run]:
    latest = Run.objects.filter(repository=OuterRef("pk")).order_by("-number").values("pk")[:1]
    ids = Repository.objects.filter(pk__in=[r.pk for r in repositories]).annotate(
        last_run_id=Subquery(latest)
    )
    wanted = {row.last_run_id: row.pk for row in ids if row.last_run_id is not None}
    runs = Run.objects.select_related("repository").defer("payload").filter(pk__in=wanted)
    return {wanted[run.pk]: run for run in runs}


@router.get("", response=list[RepositoryOut], summary="List repositories")
def list_repositories(request: HttpRequest) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.VIEWER)
    repositories = list(Repository.objects.order_by("name"))
    last = _last_runs(repositories)
    return [repository_out(repository, last.get(repository.pk)) for repository in repositories]


@router.get(
    "/{name}",
    response={200: RepositoryOut, 404: ErrorOut},
    summary="Get a repository",
)
def get_repository(request: HttpRequest, name: str) -> dict[str, Any]:
    lookups.require_role(request, Role.VIEWER)
    repository = lookups.repository(name)
    return repository_out(repository, _last_runs([repository]).get(repository.pk))


def _validated(body: RepositoryIn) -> dict[str, Any]:
    name = body.name.strip()
    if not name:
        raise bad_input("name", "must not be empty")
    try:
        check_name(name)
    except RepositoryRefused as refused:
        raise bad_input(refused.field, refused.message) from None
    url = body.url.strip()
    if not url:
        raise bad_input("url", "must not be empty: a local bare repository's path or a git URL")
    return {
        "name": name,
        "url": url,
        "default_branch": _branch(body.default_branch),
        "poll_interval": _poll_interval(body.poll_interval),
        "require_fork_approval": body.require_fork_approval,
    }


def _branch(given: str | None) -> str | None:
    if given is None:
        return None
    branch = given.strip()
    # git's own rules, as for every ref a trigger names; refs/... is a full ref, not a branch.
    problem = "is empty" if not branch else refnames.branch_problem(branch)
    if problem is None and branch.startswith("refs/"):
        problem = "starts with refs/ (give the branch's name alone)"
    if problem:
        shown = refnames.shown(branch)
        raise bad_input("default_branch", f"{shown} is not a branch name: it {problem}")
    return branch


def _poll_interval(given: int | None) -> int | None:
    if given is not None and 0 < given < POLL_MIN:
        raise bad_input(
            "poll_interval", f"must be 0 (never), at least {POLL_MIN} seconds, or null (default)"
        )
    if given is not None and given < 0:
        raise bad_input("poll_interval", "must not be negative")
    return given


@router.post(
    "",
    response={201: RepositoryCreatedOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut},
    summary="Add a repository (admin)",
)
def create_repository(request: HttpRequest, body: RepositoryIn) -> Reply[dict[str, Any]]:
    """As ``conveyor repo add``: a local bare repository gets the post-receive hook that
    notifies the server of pushes; today's branches and tags are taken as seen, so the
    next push starts runs. The webhook secret is in this response, for the forge's
    webhook settings."""
    lookups.require_role(request, Role.ADMIN)
    fields = _validated(body)
    base_url = settings.CONVEYOR_URL
    try:
        repository, _ = add_repository(
            fields["name"],
            fields["url"],
            base_url=base_url,
            default_branch=fields["default_branch"],
            poll_interval=fields["poll_interval"],
            require_fork_approval=fields["require_fork_approval"],
        )
    except RepositoryExists as exists:
        raise conflict(exists.message) from None
    except RepositoryRefused as refused:
        raise bad_input(refused.field, refused.message) from None
    body_out = repository_out(repository)
    body_out["webhook_secret"] = repository.webhook_secret
    body_out["webhook_urls"] = {
        provider: f"{base_url}/hooks/{provider}/{repository.name}"
        for provider in ("github", "gitlab", "gitea", "generic")
    }
    return Reply(201, body_out)


@router.patch(
    "/{name}",
    response={200: RepositoryOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Change a repository's settings (admin)",
)
def update_repository(
    request: HttpRequest, name: str, body: RepositorySettingsIn
) -> dict[str, Any]:
    """Only the fields sent change: ``default_branch``, ``poll_interval`` (0: never
    polled) and ``require_fork_approval``."""
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    sent = body.model_dump(exclude_unset=True)
    changed: list[str] = []
    if sent.get("default_branch") is not None:
        repository.default_branch = _branch(body.default_branch)
        changed.append("default_branch")
    if "poll_interval" in sent:
        repository.poll_interval = _poll_interval(body.poll_interval) or None
        changed.append("poll_interval")
    if sent.get("require_fork_approval") is not None:
        repository.require_fork_approval = bool(body.require_fork_approval)
        changed.append("require_fork_approval")
    if changed:
        repository.save(update_fields=changed)
    return repository_out(repository, _last_runs([repository]).get(repository.pk))
