"""The Prometheus collector behind ``/metrics``: every figure read from the database at
scrape time: the tallies ``histograms.py`` keeps of finished runs (counts and duration
histograms), the unfinished runs by an index search per status, and grouped counts of
the deployments, environments and incidents. No run or job row is loaded, so a scrape
costs the same with 100,000 runs as with 100 (bench/metrics.py, docs/metrics.md)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from conveyor.server.insights import histograms
from conveyor.server.insights.models import Tally
from conveyor.server.monitoring.models import Incident
from conveyor.server.repos.models import Environment, Repository
from conveyor.server.runs.models import Deployment, Run, Status

HISTOGRAMS = (
    (
        histograms.RUN_DURATION,
        "conveyor_run_duration_seconds",
        "How long finished runs ran, from started to finished",
        ("repository", "status"),
    ),
    (
        histograms.JOB_DURATION,
        "conveyor_job_duration_seconds",
        "How long the jobs of finished runs ran (skipped jobs left out)",
        ("repository",),
    ),
    (
        histograms.QUEUE_WAIT,
        "conveyor_queue_wait_seconds",
        "How long finished runs waited from queued (or approved) to started",
        ("repository",),
    ),
)


ACTIVE_STATUSES = (Status.WAITING, Status.QUEUED, Status.RUNNING)
# {(metric, repository id, status): {bucket: (count, seconds)}}
Tallies = dict[tuple[str, int, str], dict[int, tuple[int, float]]]


def _tallies() -> Tallies:
    found: Tallies = defaultdict(dict)
    rows = Tally.objects.values_list(
        "metric", "repository_id", "status", "bucket", "count", "seconds"
    )
    for metric, repository_id, status, bucket, count, seconds in rows:
        found[(metric, repository_id, status)][bucket] = (count, seconds)
    return found


# {(repository id, status): count} of the runs not finished
ActiveRuns = dict[tuple[int, str], int]


def _active_runs() -> ActiveRuns:
    """One query a status: each an index search (``run_repo_status``, skipping over the
    repositories), where one ``status IN (...)`` query scans the whole index."""
    found: ActiveRuns = {}
    for status in ACTIVE_STATUSES:
        rows = (
            Run.objects.filter(status=status)
            .order_by()
            .values_list("repository_id")
            .annotate(count=Count("pk"))
        )
        for repository_id, count in rows:
            found[(repository_id, status)] = count
    return found


class DatabaseCollector:
    """A custom collector (``collect()`` only): register it in a registry made with
    ``auto_describe=False`` so registering does not query the database."""

    def collect(self) -> Iterator[Metric]:
        repositories = dict(Repository.objects.values_list("pk", "name"))
        environments = {
            pk: (repositories.get(repository_id, ""), name)
            for pk, repository_id, name in Environment.objects.values_list(
                "pk", "repository_id", "name"
            )
        }
        tallies = _tallies()
        active = _active_runs()
        yield self._runs_active(active, repositories)
        yield self._runs_finished(repositories, tallies)
        yield from self._histograms(repositories, tallies)
        yield from self._queue(active)
        yield self._deployments(repositories, environments)
        yield from self._environments(environments)

    def _runs_active(self, active: ActiveRuns, repositories: dict[int, str]) -> Metric:
        family = GaugeMetricFamily(
            "conveyor_runs_active",
            "Runs not finished yet, by repository and status (waiting, queued, running)",
            labels=["repository", "status"],
        )
        for (repository_id, status), count in sorted(active.items()):
            family.add_metric([repositories.get(repository_id, ""), status], count)
        return family

    def _runs_finished(self, repositories: dict[int, str], tallies: Tallies) -> Metric:
        family = CounterMetricFamily(
            "conveyor_runs_finished",
            "Runs that finished, by repository and status (success, failure, cancelled, "
            "skipped), counted when they finish: retention never lowers it",
            labels=["repository", "status"],
        )
        for (metric, repository_id, status), buckets in sorted(tallies.items()):
            if metric == histograms.RUNS_FINISHED:
                count = sum(count for count, _ in buckets.values())
                family.add_metric([repositories.get(repository_id, ""), status], count)
        return family

    def _histograms(self, repositories: dict[int, str], tallies: Tallies) -> Iterator[Metric]:
        for metric, name, documentation, labels in HISTOGRAMS:
            family = HistogramMetricFamily(name, documentation, labels=list(labels))
            bounds = histograms.BOUNDS[metric]
            for (of, repository_id, status), buckets in sorted(tallies.items()):
                if of != metric:
                    continue
                cumulative, total = 0, 0.0
                points: list[tuple[str, float]] = []
                for index, bound in enumerate((*bounds, float("inf"))):
                    count, seconds = buckets.get(index, (0, 0.0))
                    cumulative += count
                    total += seconds
                    points.append((floatToGoString(bound), cumulative))
                values = [repositories.get(repository_id, ""), status][: len(labels)]
                family.add_metric(values, points, sum_value=total)
            yield family

    def _queue(self, active: ActiveRuns) -> Iterator[Metric]:
        queued = sum(count for (_, status), count in active.items() if status == Status.QUEUED)
        running = sum(count for (_, status), count in active.items() if status == Status.RUNNING)
        oldest = Run.objects.filter(status=Status.QUEUED).aggregate(oldest=Min("created_at"))
        figures = {"queued": queued, "running": running, "oldest": oldest["oldest"]}
        yield GaugeMetricFamily(
            "conveyor_queue_length", "Runs queued for a worker", value=figures["queued"]
        )
        oldest = figures["oldest"]
        age = max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0
        yield GaugeMetricFamily(
            "conveyor_queue_oldest_seconds",
            "How long the oldest queued run has waited (0 when none waits)",
            value=age,
        )
        # A worker runs one run at a time, whatever runs it (embedded pool, Celery).
        yield GaugeMetricFamily(
            "conveyor_workers_busy", "Workers running a run", value=figures["running"]
        )
        if _embedded():
            yield GaugeMetricFamily(
                "conveyor_workers",
                "Worker threads of this server's embedded pool (CONVEYOR_WORKERS)",
                value=settings.CONVEYOR_WORKERS,
            )

    def _deployments(
        self, repositories: dict[int, str], environments: dict[int, tuple[str, str]]
    ) -> Metric:
        family = GaugeMetricFamily(
            "conveyor_deployments",
            "Deployments in the database by repository, environment ('' when the job named "
            "none), status and the deploy step's last state ('' when it reported none)",
            labels=["repository", "environment", "status", "state"],
        )
        # Grouped by environment first (no join); the few deployments of jobs that named
        # no environment are grouped by their run's repository.
        counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
        by_environment = (
            Deployment.objects.filter(environment__isnull=False)
            .order_by()
            .values_list("environment_id", "status", "state")
            .annotate(count=Count("pk"))
        )
        for environment_id, status, state, count in by_environment:
            repository, environment = environments.get(environment_id, ("", ""))
            counts[(repository, environment, status, state)] += count
        without = (
            Deployment.objects.filter(environment__isnull=True)
            .order_by()
            .values_list("run__repository_id", "status", "state")
            .annotate(count=Count("pk"))
        )
        for repository_id, status, state, count in without:
            counts[(repositories.get(repository_id, ""), "", status, state)] += count
        for values, count in sorted(counts.items()):
            family.add_metric(list(values), count)
        return family

    def _environments(self, environments: dict[int, tuple[str, str]]) -> Iterator[Metric]:
        labels = ["repository", "environment"]
        up = GaugeMetricFamily(
            "conveyor_environment_up",
            "1 when the environment has no open incident, 0 while one is open",
            labels=labels,
        )
        total = GaugeMetricFamily(
            "conveyor_incidents", "Incidents recorded for the environment", labels=labels
        )
        still_open = GaugeMetricFamily(
            "conveyor_incidents_open",
            "Incidents of the environment not resolved yet",
            labels=labels,
        )
        counts: dict[int, dict[str, Any]] = {
            row["environment_id"]: row
            for row in Incident.objects.order_by()
            .values("environment_id")
            .annotate(total=Count("pk"), open=Count("pk", filter=Q(resolved_at__isnull=True)))
        }
        for pk, names in sorted(environments.items(), key=lambda item: item[1]):
            row = counts.get(pk, {"total": 0, "open": 0})
            up.add_metric(list(names), 0 if row["open"] else 1)
            total.add_metric(list(names), row["total"])
            still_open.add_metric(list(names), row["open"])
        yield up
        yield total
        yield still_open


def _embedded() -> bool:
    from conveyor.server.dispatch.mode import jobs_run_on_workers

    return not jobs_run_on_workers()
