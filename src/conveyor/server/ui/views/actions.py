"""What a member may do from the pages: approve a fork's run, cancel, re-run, run a
workflow by hand (POST, CSRF)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from conveyor.server.accounts.permissions import role_required
from conveyor.server.repos import git, refnames
from conveyor.server.runs import services, workspace
from conveyor.server.ui.views.lookup import repository_named, run_of


@require_POST
@role_required("member")
def approve(request: HttpRequest, name: str, number: int) -> HttpResponse:
    """Let a run of a pull request from a fork start (it still gets no secrets)."""
    run = run_of(name, number)
    try:
        services.approve(run, by=request.user.get_username())
    except services.RunRequestInvalid as error:
        messages.info(request, f"Cannot approve #{run.number}: {error}.")
    else:
        messages.success(request, f"Run #{run.number} approved: it runs without secrets.")
    return redirect("ui:run", name=name, number=number)


@require_POST
@role_required("member")
def cancel(request: HttpRequest, name: str, number: int) -> HttpResponse:
    run = run_of(name, number)
    if run.finished:
        messages.info(request, f"Run #{run.number} had already finished ({run.status}).")
    else:
        services.cancel(run, reason=f"cancelled by {request.user.get_username()}")
        messages.success(request, f"Run #{run.number} is being cancelled.")
    return redirect("ui:run", name=name, number=number)


@require_POST
@role_required("member")
def rerun(request: HttpRequest, name: str, number: int) -> HttpResponse:
    """``?failed=1`` (or a ``failed`` form field): only the failed jobs and what needs them."""
    run = run_of(name, number)
    failed_only = "1" in (request.GET.get("failed"), request.POST.get("failed"))
    try:
        new = services.rerun(run, failed_only=failed_only, by=request.user.get_username())
    except (services.RunRequestInvalid, git.GitError) as error:
        messages.error(request, f"Cannot re-run #{run.number}: {error}")
        return redirect("ui:run", name=name, number=number)
    return redirect("ui:run", name=name, number=new.number)


@require_POST
@role_required("member")
def dispatch(request: HttpRequest, name: str) -> HttpResponse:
    """Run one workflow on a branch by hand with its inputs (form fields ``input.<name>``)."""
    repository = repository_named(name)
    workflow = request.POST.get("workflow", "").strip()
    branch = request.POST.get("branch", "").strip() or repository.default_branch
    inputs = {
        key.removeprefix("input."): value
        for key, value in request.POST.items()
        if key.startswith("input.")
    }
    if not workflow:
        messages.error(request, "Run workflow: choose a workflow.")
        return redirect("ui:repository", name=name)
    try:
        full_ref = refnames.check_branch(branch)
    except refnames.NameInvalid as invalid:
        messages.error(request, f"Run workflow: {invalid}")
        return redirect("ui:repository", name=name)
    try:
        mirror = workspace.update_mirror(repository)
        sha = git.resolve_commit(mirror, full_ref)
        if sha is None:
            raise services.RunRequestInvalid(f"no branch {branch!r} in repository {name}")
        runs = services.create_runs_for_event(
            repository,
            event="workflow_dispatch",
            ref=full_ref,
            sha=sha,
            inputs=inputs,
            actor=request.user.get_username(),
            only_workflow=workflow,
        )
    except (services.RunRequestInvalid, git.GitError) as error:
        messages.error(request, f"Run workflow: {error}")
        return redirect("ui:repository", name=name)
    if not runs:
        messages.error(request, f"Run workflow: {workflow} does not run on workflow_dispatch.")
        return redirect("ui:repository", name=name)
    messages.success(request, f"Run #{runs[0].number} of {workflow} queued on {branch}.")
    return redirect("ui:run", name=name, number=runs[0].number)
