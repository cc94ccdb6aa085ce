"""``.../artifacts/<name>``: download one of a run's artifacts from its page (a zip, or
``?format=tar.gz`` for the stored archive)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponseBadRequest
from django.http.response import HttpResponseBase

from conveyor.server.accounts.permissions import role_required
from conveyor.server.runs import artifacts
from conveyor.server.ui.views.lookup import run_of


@role_required("viewer")
def artifact_download(
    request: HttpRequest, name: str, number: int, artifact: str
) -> HttpResponseBase:
    fmt = request.GET.get("format", "zip")
    if fmt not in artifacts.FORMATS:
        return HttpResponseBadRequest(f"format {fmt!r} is not one of zip, tar.gz")
    run = run_of(name, number)
    found = artifacts.store_of(run.pk).get(artifact)
    if found is None:
        raise Http404(f"run #{number} of {name} has no artifact {artifact!r}")
    return artifacts.download(request, found, fmt)
