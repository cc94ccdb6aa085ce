"""How long ``GET /metrics`` takes with 100,000 runs in the database (issue 9: under 50 ms).

    .venv/bin/python bench/metrics.py                # 100,000 runs, 50 scrapes
    .venv/bin/python bench/metrics.py --runs 10000   # smaller, quicker

Fills a fresh SQLite database (a temporary data directory, migrated) with N runs over
20 repositories, two jobs a run, a deployment every 20th run to one of 3 environments a
repository, incidents and the duration tallies those runs would have left; then scrapes
``/metrics`` through Django's whole request stack (token check, collector, text format)
and reports the median and 95th percentile. For comparison it also times what the
histograms would cost computed from the run and job rows at each scrape.
Writes bench/results/metrics.md and prints it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
REPOSITORIES = 20
ENVIRONMENTS = ("production", "staging", "review")
STATUSES = ("success",) * 7 + ("failure",) * 2 + ("cancelled",)


def setup_django(data: str) -> None:
    os.environ.update(
        CONVEYOR_DATA=data,
        DJANGO_SETTINGS_MODULE="conveyor.server.settings",
        CONVEYOR_METRICS_TOKEN=TOKEN,
        CONVEYOR_ALLOWED_HOSTS="testserver",
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def fill(runs: int) -> None:
    from django.db import connection, transaction

    from conveyor.server.monitoring.models import Incident
    from conveyor.server.repos.models import Environment, Repository
    from conveyor.server.runs.models import Deployment, Job, Run

    rng = random.Random(9)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    repositories = [
        Repository.objects.create(name=f"repo-{index}", url=f"/srv/git/repo-{index}.git")
        for index in range(REPOSITORIES)
    ]
    environments = {
        repository.pk: [
            Environment.objects.create(repository=repository, name=name) for name in ENVIRONMENTS
        ]
        for repository in repositories
    }
    batch = 5000
    with transaction.atomic():
        for first in range(0, runs, batch):
            rows, times = [], []
            for index in range(first, min(first + batch, runs)):
                repository = repositories[index % REPOSITORIES]
                created = start + timedelta(seconds=60 * index)
                wait = rng.expovariate(1 / 3)
                duration = rng.lognormvariate(4.5, 1.0)
                status = rng.choice(STATUSES)
                if index >= runs - 20:
                    status = "queued" if index < runs - 2 else "running"
                finished = status not in ("queued", "running")
                started = created + timedelta(seconds=wait) if status != "queued" else None
                rows.append(
                    Run(
                        repository=repository,
                        number=index // REPOSITORIES + 1,
                        workflow_path=".github/workflows/ci.yml",
                        event="push",
                        ref="refs/heads/main",
                        sha=f"{index:040x}",
                        status=status,
                        started_at=started,
                        finished_at=started + timedelta(seconds=duration) if finished else None,
                    )
                )
                times.append(created)
            made = Run.objects.bulk_create(rows)
            jobs, deployments = [], []
            for run in made:
                for job in ("build", "test"):
                    seconds = (
                        (run.finished_at - run.started_at).total_seconds() / 2
                        if run.finished_at
                        else None
                    )
                    jobs.append(
                        Job(
                            run=run,
                            job_key=job,
                            job_id=job,
                            status=run.status,
                            started_at=run.started_at,
                            finished_at=run.started_at + timedelta(seconds=seconds)
                            if seconds is not None
                            else None,
                        )
                    )
                if run.number % 20 == 0 and run.finished_at:
                    deployments.append(
                        Deployment(
                            run=run,
                            job_key="deploy",
                            environment=rng.choice(environments[run.repository_id]),
                            status="success" if run.status == "success" else "failure",
                            state="live" if run.status == "success" else "rolled-back",
                            sha=run.sha,
                            started_at=run.started_at,
                            finished_at=run.finished_at,
                        )
                    )
            Job.objects.bulk_create(jobs)
            Deployment.objects.bulk_create(deployments)
        # created_at is auto_now_add: set the queue times in one statement (3 s, roughly).
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE runs_run SET created_at = datetime(started_at, '-3 seconds') "
                "WHERE started_at IS NOT NULL"
            )
        for items in environments.values():
            for environment in items:
                for day in range(30):
                    opened = start + timedelta(days=day, hours=rng.random() * 20)
                    Incident.objects.create(
                        environment=environment,
                        url="http://127.0.0.1/healthz",
                        reason="500",
                        opened_at=opened,
                        resolved_at=opened + timedelta(minutes=rng.random() * 90),
                    )
        Incident.objects.create(
            environment=environments[repositories[0].pk][0],
            url="http://127.0.0.1/healthz",
            reason="refused",
            opened_at=datetime.now(UTC),
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def tally_runs() -> float:
    """The tallies those runs leave, made by the upgrade's own pass over earlier runs;
    returns its seconds."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "conveyor.server.insights.migrations.0002_tally_earlier_runs"
    )
    began = time.perf_counter()
    migration.tally_earlier_runs(apps, None)
    return time.perf_counter() - began


def time_scrapes(count: int) -> tuple[list[float], int]:
    from django.test import Client

    client = Client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = client.get("/metrics", headers=headers)  # warm: imports, first connection
    assert answer.status_code == 200, answer.status_code
    timings = []
    for _ in range(count):
        began = time.perf_counter()
        answer = client.get("/metrics", headers=headers)
        timings.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200
    return timings, len(answer.content)


def time_parts(count: int = 20) -> dict[str, float]:
    """Median milliseconds of each part of the collector, and of the text format."""
    from prometheus_client import CollectorRegistry, generate_latest

    from conveyor.server.insights.collector import DatabaseCollector, _active_runs, _tallies
    from conveyor.server.repos.models import Environment, Repository

    collector = DatabaseCollector()
    repositories = dict(Repository.objects.values_list("pk", "name"))
    environments = {
        pk: (repositories[repository_id], name)
        for pk, repository_id, name in Environment.objects.values_list(
            "pk", "repository_id", "name"
        )
    }
    parts = {
        "active runs by repository and status": lambda: collector._runs_active(
            _active_runs(), repositories
        ),
        "tallies (finished runs, durations)": lambda: list(
            collector._histograms(repositories, _tallies())
        ),
        "queue and workers": lambda: list(collector._queue({})),
        "deployments": lambda: collector._deployments(repositories, environments),
        "environments and incidents": lambda: list(collector._environments(environments)),
    }
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    parts["the whole collector + text format"] = lambda: generate_latest(registry)
    medians = {}
    for name, part in parts.items():
        timings = []
        for _ in range(count):
            began = time.perf_counter()
            part()
            timings.append((time.perf_counter() - began) * 1000)
        medians[name] = statistics.median(timings)
    return medians


def time_from_rows() -> float:
    """What one duration histogram of the runs would cost computed from their rows."""
    from django.db import connection

    bounds = " ".join(
        f"WHEN d <= {bound} THEN {index}"
        for index, bound in enumerate((1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200))
    )
    sql = (
        f"SELECT repository_id, status, CASE {bounds} ELSE 12 END AS bucket, COUNT(*), SUM(d) "
        "FROM (SELECT repository_id, status, "
        "(julianday(finished_at) - julianday(started_at)) * 86400.0 AS d FROM runs_run "
        "WHERE started_at IS NOT NULL AND finished_at IS NOT NULL) "
        "GROUP BY repository_id, status, bucket"
    )
    timings = []
    with connection.cursor() as cursor:
        for _ in range(5):
            began = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings)


def report(
    runs: int,
    timings: list[float],
    size: int,
    from_rows: float,
    fill_seconds: float,
    tally_seconds: float,
    parts: dict[str, float],
) -> str:
    from conveyor.server.runs.models import Deployment, Job, Run

    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    median = statistics.median(ordered)
    verdict = "meets" if p95 < 50 else "misses"
    return "\n".join(
        [
            "# `/metrics` with a full database",
            "",
            f"{Run.objects.count():,} runs over {REPOSITORIES} repositories, "
            f"{Job.objects.count():,} jobs, "
            f"{Deployment.objects.count():,} deployments to {REPOSITORIES * len(ENVIRONMENTS)} "
            f"environments, {REPOSITORIES * len(ENVIRONMENTS) * 30 + 1:,} incidents; SQLite "
            + (
                f"(filled in {fill_seconds:.0f} s; the upgrade's tally of those runs took "
                f"{tally_seconds:.1f} s). "
                if fill_seconds
                else "(a database filled by an earlier run, --data). "
            )
            + f"Load average before the scrapes: {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| `GET /metrics`, median of {len(timings)} | {median:.1f} ms |",
            f"| `GET /metrics`, 95th percentile | {p95:.1f} ms ({verdict} the 50 ms target) |",
            f"| fastest / slowest | {ordered[0]:.1f} / {ordered[-1]:.1f} ms |",
            f"| answer size | {size:,} bytes |",
            f"| one run-duration histogram from the run rows instead | {from_rows:.1f} ms |",
            "",
            "Where a scrape's time goes (medians):",
            "",
            "| part | ms |",
            "|---|---|",
            *(f"| {name} | {value:.1f} |" for name, value in parts.items()),
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument(
        "--data", help="keep the database in this directory; filled only if it is empty"
    )
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-metrics-") as scratch:
        data = options.data or scratch
        filled = Path(data, "conveyor.sqlite3").exists()
        setup_django(data)
        began = time.perf_counter()
        fill_seconds = tally_seconds = 0.0
        if not filled:
            fill(options.runs)
            fill_seconds = time.perf_counter() - began
            tally_seconds = tally_runs()
        timings, size = time_scrapes(options.scrapes)
        parts = time_parts()
        text = report(
            options.runs, timings, size, time_from_rows(), fill_seconds, tally_seconds, parts
        )
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "metrics.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
