"""The pages: dashboard, repository (runs, filters, pagination) and run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from conveyor.server.accounts.permissions import can_trigger, role_required
from conveyor.server.dispatch.overview import job_facts, shown_reason
from conveyor.server.repos.models import Repository
from conveyor.server.runs.artifacts import store_of
from conveyor.server.runs.models import Run, Status
from conveyor.server.ui.dispatchable import mirror_view
from conveyor.server.ui.graph import job_graph
from conveyor.server.ui.notes import annotations_of, summaries_of
from conveyor.server.ui.pipeline import picture_of
from conveyor.server.ui.views.environments import waiting_deployments
from conveyor.server.ui.views.lookup import repository_named, run_of

RUNS_PER_PAGE = 50
BRANCHES_ON_DASHBOARD = 6
TREND_LENGTH = 20
# The dashboard's branches are those among a repository's last RECENT_RUNS runs.
RECENT_RUNS = 500
EVENTS = (
    "push",
    "pull_request",
    "pull_request_target",
    "workflow_dispatch",
    "schedule",
    "workflow_run",
    "repository_dispatch",
)


@dataclass
class RepositoryCard:
    repository: Repository
    branches: list[Run]  # the last run of each recently built branch
    trend: list[Run]  # the latest runs, oldest first
    last: Run | None

    @property
    def finished(self) -> list[Run]:
        return [run for run in self.trend if run.finished and run.status != Status.SKIPPED]

    @property
    def passed(self) -> int:
        return sum(1 for run in self.finished if run.status == Status.SUCCESS)

    @property
    def median_duration(self) -> timedelta | None:
        durations = sorted(run.duration for run in self.finished if run.duration is not None)
        return durations[len(durations) // 2] if durations else None


def _repository_card(repository: Repository) -> RepositoryCard:
    runs = Run.objects.filter(repository=repository)
    # The branches built lately: grouping every run of the repository by ref would read
    # its whole history at each view; the last RECENT_RUNS runs are one index range.
    oldest_recent = runs.order_by("-number").values_list("number", flat=True)[
        RECENT_RUNS - 1 : RECENT_RUNS
    ]
    if oldest_recent:
        runs = runs.filter(number__gte=oldest_recent[0])
    last_numbers = (
        runs.values("ref")
        .annotate(last=Max("number"))
        .order_by("-last")
        .values_list("last", flat=True)[:BRANCHES_ON_DASHBOARD]
    )
    branches = list(
        Run.objects.filter(repository=repository, number__in=list(last_numbers)).order_by("-number")
    )
    trend = list(Run.objects.filter(repository=repository).order_by("-number")[:TREND_LENGTH])
    return RepositoryCard(repository, branches, trend[::-1], trend[0] if trend else None)


@role_required("viewer")
def dashboard(request: HttpRequest) -> HttpResponse:
    cards = [_repository_card(repository) for repository in Repository.objects.all()]
    longest = max(
        (run.duration.total_seconds() for card in cards for run in card.trend if run.duration),
        default=0.0,
    )
    return render(request, "ui/dashboard.html", {"cards": cards, "longest": longest or 1.0})


def _int_or_none(text: str | None) -> int | None:
    try:
        value = int(text or "")
    except ValueError:
        return None
    return value if value > 0 else None


@role_required("viewer")
def repository(request: HttpRequest, name: str) -> HttpResponse:
    """Runs newest first, 50 a page, keyset-paginated on the run number (``?before=N``) so
    page 2,000 costs what page 1 costs; filters by branch, status, event and workflow."""
    repo = repository_named(name)
    filters = {
        "branch": request.GET.get("branch", "").strip(),
        "status": request.GET.get("status", "").strip(),
        "event": request.GET.get("event", "").strip(),
        "workflow": request.GET.get("workflow", "").strip(),
    }
    runs = Run.objects.filter(repository=repo).defer("execution", "payload")
    if filters["branch"]:
        runs = runs.filter(ref=f"refs/heads/{filters['branch']}")
    if filters["status"] in Status.values:
        runs = runs.filter(status=filters["status"])
    else:
        filters["status"] = ""
    if filters["event"]:
        runs = runs.filter(event=filters["event"])
    if filters["workflow"]:
        runs = runs.filter(workflow_path=filters["workflow"])
    before = _int_or_none(request.GET.get("before"))
    if before is not None:
        runs = runs.filter(number__lt=before)
    page = list(runs.order_by("-number")[: RUNS_PER_PAGE + 1])
    has_more = len(page) > RUNS_PER_PAGE
    page = page[:RUNS_PER_PAGE]
    query = urlencode({key: value for key, value in filters.items() if value})
    mirror = mirror_view(repo)
    context: dict[str, Any] = {
        "repository": repo,
        "runs": page,
        "filters": filters,
        "filtered": any(filters.values()),
        "next_before": page[-1].number if has_more and page else None,
        "is_first_page": before is None,
        "query": query,
        "statuses": Status.values,
        "events": EVENTS,
        "mirror": mirror,
        "can_trigger": can_trigger(request.user),
        "environments": list(repo.environments.order_by("name")),
    }
    return render(request, "ui/repository.html", context)


@role_required("viewer")
def run_page(request: HttpRequest, name: str, number: int) -> HttpResponse:
    run = run_of(name, number)
    jobs = list(run.jobs.prefetch_related("steps"))
    facts = job_facts(run, jobs)
    for job in jobs:
        # Who runs it, and why a queued job waits (no worker serves its labels...).
        job.shown_worker = facts[job.pk].worker  # type: ignore[attr-defined]
        job.shown_reason = shown_reason(job, facts[job.pk])  # type: ignore[attr-defined]
    picture = picture_of(run)
    annotations = annotations_of(run)
    summaries = summaries_of(jobs)
    failed_jobs = any(job.status == Status.FAILURE for job in jobs)
    context = {
        "repository": run.repository,
        "run": run,
        "jobs": jobs,
        "picture": picture,
        "graph": job_graph(jobs),
        "annotations": annotations,
        "summaries": summaries,
        "can_trigger": can_trigger(request.user),
        "failed_jobs": failed_jobs,
        "artifacts": store_of(run.pk).list(),
        "waiting_deployments": waiting_deployments(run.pk),
    }
    return render(request, "ui/run.html", context)
