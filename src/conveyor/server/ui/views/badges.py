"""``/badge/<name>.svg``: the status of the latest run, for READMEs; no login needed."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpRequest, HttpResponse

from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Run
from conveyor.server.ui.badges import badge_svg


def badge(request: HttpRequest, name: str) -> HttpResponse:
    """``?branch=`` limits to runs of that branch, ``?workflow=`` to one workflow (its file
    path, file name or name)."""
    branch = request.GET.get("branch", "").strip()
    workflow = request.GET.get("workflow", "").strip()
    repository = Repository.objects.filter(name=name).first()
    if repository is None:
        response = HttpResponse(
            badge_svg(name, "unknown"), content_type="image/svg+xml", status=404
        )
    else:
        runs = Run.objects.filter(repository=repository)
        if branch:
            runs = runs.filter(ref=f"refs/heads/{branch}")
        if workflow:
            runs = runs.filter(
                Q(workflow_path=workflow)
                | Q(workflow_name=workflow)
                | Q(workflow_path__endswith=f"/{workflow}")
            )
        latest = runs.order_by("-number").values_list("status", "workflow_name").first()
        status, workflow_name = latest or ("unknown", "")
        label = (workflow_name or workflow) if workflow else repository.name
        response = HttpResponse(badge_svg(label, status), content_type="image/svg+xml")
    # Badges sit in READMEs behind caching proxies (GitHub's camo): they must always ask again.
    response["Cache-Control"] = "no-cache, no-store, max-age=0, must-revalidate"
    response["Expires"] = "0"
    return response
