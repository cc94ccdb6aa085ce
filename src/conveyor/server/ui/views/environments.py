"""An environment's page (its rules, its health, the deployments waiting, its timeline
of deployments and incidents), a member's approval or rejection of a deployment from it
or from the run page, the Rollback button and the health watch's settings."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from conveyor.server.accounts.permissions import can_admin, can_trigger, role_required
from conveyor.server.monitoring import timeline
from conveyor.server.monitoring.rollback import (
    RollbackRefused,
    last_live_deployment,
    rollback_environment,
    target_refusal,
)
from conveyor.server.repos.models import Environment
from conveyor.server.runs import environments as gate
from conveyor.server.runs.models import DEPLOYMENT_PENDING, Deployment
from conveyor.server.ui.views.lookup import repository_named

HISTORY_ON_PAGE = 100


def _environment(name: str, environment: str) -> Environment:
    found = repository_named(name).environments.filter(name=environment).first()
    if found is None:
        raise Http404(f"repository {name!r} has no environment {environment!r}")
    return found


@role_required("viewer")
def environment_page(request: HttpRequest, name: str, environment: str) -> HttpResponse:
    found = _environment(name, environment)
    rows = found.deployments.select_related("run").order_by("-pk")
    health = timeline.health_of(found)
    live = last_live_deployment(found)
    context = {
        "repository": found.repository,
        "environment": found,
        "pending": list(rows.filter(status__in=DEPLOYMENT_PENDING).order_by("pk")),
        "timeline": timeline.timeline(found, HISTORY_ON_PAGE),
        "health": health,
        "health_shown": timeline.health_out(health),
        "live": live,
        # Said beside the button instead of after a click: why this server refuses.
        "rollback_refusal": target_refusal(live.target) if live else None,
        "can_trigger": can_trigger(request.user),
        "can_admin": can_admin(request.user),
    }
    return render(request, "ui/environment.html", context)


@require_POST
@role_required("member")
def decide(request: HttpRequest, name: str, environment: str, deployment: int) -> HttpResponse:
    """Approve (``decision=approve``) or reject a deployment waiting for approval."""
    found = _environment(name, environment)
    row = found.deployments.select_related("run").filter(pk=deployment).first()
    if row is None:
        raise Http404(f"environment {environment!r} has no deployment {deployment}")
    who = request.user.get_username()
    approving = request.POST.get("decision") != "reject"
    try:
        if approving:
            gate.approve_deployment(row, by=who)
        else:
            gate.reject_deployment(row, by=who)
    except gate.DeploymentDenied as denied:
        messages.info(request, f"{denied}.")
    else:
        done = "approved" if approving else "rejected"
        messages.success(request, f"Deployment of run #{row.run.number} to {found.name} {done}.")
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("ui:environment", name=name, environment=environment)


@require_POST
@role_required("member")
def rollback(request: HttpRequest, name: str, environment: str) -> HttpResponse:
    """The Rollback button: the live release undone once the member confirmed it."""
    found = _environment(name, environment)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Rollback not started: tick the box that confirms it.")
        return redirect("ui:environment", name=name, environment=environment)
    who = request.user.get_username()
    try:
        row = rollback_environment(found, by=who, to=request.POST.get("to") or None)
    except RollbackRefused as refused:
        messages.error(request, f"Rollback refused: {refused}.")
    else:
        messages.success(
            request,
            f"Rollback of {found.name} started (deployment {row.pk}); its result shows in "
            "the timeline below.",
        )
    return redirect("ui:environment", name=name, environment=environment)


@require_POST
@role_required("admin")
def health_settings(request: HttpRequest, name: str, environment: str) -> HttpResponse:
    """The health watch's settings of an environment: its health URL, automatic rollback."""
    found = _environment(name, environment)
    problem = timeline.set_health_settings(
        found,
        request.POST.get("health_url", ""),
        request.POST.get("auto_rollback") == "on",
    )
    if problem:
        messages.error(request, f"Not saved: {problem}.")
    else:
        messages.success(request, f"Health watch settings of {found.name} saved.")
    return redirect("ui:environment", name=name, environment=environment)


def waiting_deployments(run_id: int) -> list[Deployment]:
    """A run's deployments a member may approve, for its page."""
    return list(
        Deployment.objects.select_related("environment")
        .filter(run_id=run_id, status="waiting", environment__isnull=False)
        .order_by("pk")
    )
