"""Finding the repository and run a URL names, or a 404 that says which."""

from __future__ import annotations

from django.http import Http404

from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Run


def repository_named(name: str) -> Repository:
    repository = Repository.objects.filter(name=name).first()
    if repository is None:
        raise Http404(f"no repository named {name!r}")
    return repository


def run_of(name: str, number: int) -> Run:
    run = (
        Run.objects.select_related("repository")
        .filter(repository__name=name, number=number)
        .first()
    )
    if run is None:
        raise Http404(f"repository {name!r} has no run #{number}")
    return run
