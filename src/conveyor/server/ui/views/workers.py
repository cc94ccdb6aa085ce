"""``/workers/``: the ``conveyor worker`` processes a scaled-out server knows, their
state and what each runs now; htmx asks for the list again every few seconds. And
``/workers/scale-out``: the scale-out guide with its example files, when the server
runs from a checkout that has them."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

import conveyor
from conveyor.server.accounts.permissions import role_required
from conveyor.server.dispatch.overview import broker_configured, lost_after, workers_overview
from conveyor.server.ui.markdown import render_summary

REFRESH_SECONDS = 3  # heartbeats come every 2 s: a state change shows within one refresh


def guide_path() -> Path | None:
    """``docs/scale-out.md`` of the source tree the server runs from; an installed
    wheel has no docs directory."""
    candidate = Path(conveyor.__file__).resolve().parents[2] / "docs" / "scale-out.md"
    return candidate if candidate.is_file() else None


@role_required("viewer")
def workers_page(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    context = {
        "workers": workers_overview(now),
        "now": now,
        "scale_out": broker_configured(),
        "lost_seconds": int(lost_after().total_seconds()),
        "refresh_seconds": REFRESH_SECONDS,
        "guide": guide_path() is not None,
    }
    # htmx's poll replaces the list only; the page around it stays.
    template = "ui/_workers.html" if getattr(request, "htmx", False) else "ui/workers.html"
    return render(request, template, context)


@role_required("viewer")
def scale_out_guide(request: HttpRequest) -> HttpResponse:
    path = guide_path()
    if path is None:
        raise Http404("the scale-out guide is docs/scale-out.md in Conveyor's source")
    html = render_summary(path.read_text(encoding="utf-8"))
    return render(request, "ui/guide.html", {"title": "Scaling out", "html": html})


@role_required("viewer")
def deploy_example(request: HttpRequest, name: str) -> FileResponse:
    """One of the guide's example files (systemd units, compose, Kubernetes), as text."""
    guide = guide_path()
    examples = guide.parent / "deploy-examples" if guide is not None else None
    # Only a file listed in that directory: a name never walks out of it.
    if examples is None or not examples.is_dir() or name not in _listing(examples):
        raise Http404(f"no example file {name!r}")
    response = FileResponse((examples / name).open("rb"), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = "inline"
    return response


def _listing(directory: Path) -> set[str]:
    return {entry.name for entry in directory.iterdir() if entry.is_file()}
