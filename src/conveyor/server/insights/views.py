"""A repository's DORA page: the four keys of one environment over 7, 30 or 90 days,
and their trend per day (per week over 90 days) as server-drawn SVG bar charts."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.safestring import mark_safe

from conveyor.server.accounts.permissions import role_required
from conveyor.server.insights import charts, dora
from conveyor.server.repos.models import Environment, Repository
from conveyor.server.ui.templatetags.conveyor_ui import duration_text
from conveyor.server.ui.views.lookup import repository_named

DEFAULT_DAYS = 30


@role_required("viewer")
def dora_page(request: HttpRequest, name: str) -> HttpResponse:
    repository = repository_named(name)
    raw_days = request.GET.get("days", str(DEFAULT_DAYS))
    if raw_days not in {str(days) for days in dora.WINDOWS}:
        return HttpResponseBadRequest(
            f"days={raw_days!r}: the window is 7, 30 or 90 days", content_type="text/plain"
        )
    days = int(raw_days)
    environments = list(repository.environments.order_by("name"))
    environment = _chosen(repository, environments, request.GET.get("environment"))
    context: dict[str, Any] = {
        "repository": repository,
        "environments": environments,
        "environment": environment,
        "days": days,
        "windows": dora.WINDOWS,
    }
    if environment is not None:
        context.update(_figures(environment, days))
    return render(request, "insights/dora.html", context)


def _chosen(
    repository: Repository, environments: list[Environment], asked: str | None
) -> Environment | None:
    if asked:
        for environment in environments:
            if environment.name == asked:
                return environment
        raise Http404(f"repository {repository.name!r} has no environment {asked!r}")
    # Unnamed: the one the API would take, else the first (the page lists the others).
    return dora.preferred_environment(environments) or (environments[0] if environments else None)


def _figures(environment: Environment, days: int) -> dict[str, Any]:
    start, end = dora.window(days)
    history = dora.load_history(environment, start)
    keys = dora.four_keys(history, start, end)
    buckets = dora.trend(history, start, end, dora.bucket_length(days))
    labels = [bucket.start.strftime("%m-%d") for bucket in buckets]

    def chart(title: str, field: str, show: Any) -> tuple[str, str]:
        bars = [(label, getattr(b.keys, field)) for label, b in zip(labels, buckets, strict=True)]
        return title, mark_safe(charts.bar_chart(title, bars, show, css_class=field))

    return {
        "keys": keys,
        "start": start,
        "end": end,
        "per": "week" if days > 30 else "day",
        "charts": [
            chart("Deployment frequency", "deployment_frequency", charts.per_day_text),
            chart("Lead time for changes", "lead_time_seconds", duration_text),
            chart("Change failure rate", "change_failure_rate", charts.percent_text),
            chart("Time to restore", "time_to_restore_seconds", duration_text),
        ],
    }
