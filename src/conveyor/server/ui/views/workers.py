"""``/workers/``: the ``conveyor worker`` processes a scaled-out server knows, their
state and what each runs now; htmx asks for the list again every few seconds. And
``/workers/scale-out``: the scale-out guide, when the server runs from a checkout that
has it."""

from __future__ import annotations

from pathlib import Path

from django.http import Http404, HttpRequest, HttpResponse
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
