"""The plans PostgreSQL makes for the queries of the server's lists, on a database the
size of a busy team's (``seed``: 10,000 runs with their jobs, steps, logs, deployments).

``page_queries`` asks the real pages and API endpoints through Django's test client and
records the SQL they send; ``explain`` runs each SELECT under ``EXPLAIN ANALYZE`` and
says which big tables it read whole (a sequential scan) and how long it took. Used by
test_postgres_query_plans.py, and by hand for the figures in docs/postgresql.md:

    CONVEYOR_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m pytest tests/server/test_postgres_query_plans.py -s
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

# A sequential scan of a table this big in a page's query costs time in proportion to
# the server's whole history; a smaller table (environments, incidents) is read whole
# faster than through an index, and PostgreSQL rightly does so.
BIG_TABLE_ROWS = 1000

HISTORY = timedelta(days=365)
BRANCHES = 20
WORKFLOWS = (".github/workflows/ci.yml", ".github/workflows/lint.yml", ".conveyor.yml")


@dataclass
class Seeded:
    repository: str
    environment: str
    run_numbers: list[int]
    job_id: int  # a job of the run in the middle


def seed(runs: int = 10_000, metrics_token: str = "") -> Seeded:
    """A repository with ``runs`` finished runs over a year (2 jobs of 2 steps each, one
    log chunk per step), a deployment to production of every second, an incident every
    few days, a few runs in progress; and two small repositories beside it. Analysed."""
    from django.contrib.auth.models import User

    from conveyor.server.insights.models import DeploymentLive
    from conveyor.server.monitoring.models import Incident
    from conveyor.server.repos.models import Environment, Repository
    from conveyor.server.runs.models import Deployment, Job, LogChunk, Run, Status, Step

    User.objects.create_superuser("plans", "plans@example.com", "plans-password-123")
    big = Repository.objects.create(name="big", url="/nonexistent/big.git")
    for name in ("small-a", "small-b"):
        small = Repository.objects.create(name=name, url=f"/nonexistent/{name}.git")
        Run.objects.bulk_create(
            Run(repository=small, number=n, workflow_path=WORKFLOWS[0], event="push")
            for n in range(1, 21)
        )
    production = Environment.objects.create(repository=big, name="production")
    now = timezone.now()
    start = now - HISTORY
    step = HISTORY / runs

    def status_of(number: int) -> str:
        if number > runs - 3:
            return Status.RUNNING if number < runs else Status.QUEUED
        return Status.FAILURE if number % 7 == 0 else Status.SUCCESS

    run_rows = []
    for number in range(1, runs + 1):
        created = start + step * number
        status = status_of(number)
        done = status in (Status.SUCCESS, Status.FAILURE)
        run_rows.append(
            Run(
                repository=big,
                number=number,
                workflow_path=WORKFLOWS[number % len(WORKFLOWS)],
                workflow_name=f"Workflow {number % len(WORKFLOWS)}",
                event="pull_request" if number % 4 == 0 else "push",
                ref="refs/heads/main" if number % 3 else f"refs/heads/feature-{number % BRANCHES}",
                sha=f"{number:040x}",
                status=status,
                started_at=created + timedelta(seconds=5) if status != Status.QUEUED else None,
                finished_at=created + timedelta(minutes=3) if done else None,
                pipeline_status="Deployed" if status == Status.SUCCESS else "Test failed",
            )
        )
    Run.objects.bulk_create(run_rows, batch_size=2000)
    # created_at is auto_now_add: spread it over the 90 days as real runs would be.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE runs_run SET created_at = started_at - interval '5 seconds' "
            "WHERE started_at IS NOT NULL"
        )
    by_number = dict(Run.objects.filter(repository=big).values_list("number", "pk"))
    jobs = [
        Job(
            run_id=by_number[number],
            job_key=key,
            job_id=key,
            name=key,
            status=Status.SUCCESS,
            order=order,
        )
        for number in range(1, runs + 1)
        for order, key in enumerate(("build", "test"))
    ]
    Job.objects.bulk_create(jobs, batch_size=5000)
    job_ids = list(Job.objects.filter(run__repository=big).values_list("pk", flat=True))
    Step.objects.bulk_create(
        (
            Step(job_id=job_id, index=index, name=f"step {index}", status=Status.SUCCESS)
            for job_id in job_ids
            for index in range(2)
        ),
        batch_size=5000,
    )
    step_ids = list(Step.objects.filter(job__run__repository=big).values_list("pk", flat=True))
    LogChunk.objects.bulk_create(
        (
            LogChunk(step_id=step_id, seq=0, first_line=1, line_count=3, text="a\nb\nc")
            for step_id in step_ids
        ),
        batch_size=5000,
    )
    deployed = [number for number in range(2, runs - 3, 2)]
    Deployment.objects.bulk_create(
        (
            Deployment(
                run_id=by_number[number],
                job_key="deploy",
                environment=production,
                status="success" if status_of(number) == Status.SUCCESS else "failure",
                state="live" if status_of(number) == Status.SUCCESS else "failed",
                target="ssh://deploy@app.example.com/srv/shop",
                release=f"release-{number}",
                sha=f"{number:040x}",
                ref="refs/heads/main",
                started_at=start + step * number + timedelta(minutes=1),
                finished_at=start + step * number + timedelta(minutes=2),
            )
            for number in deployed
        ),
        batch_size=5000,
    )
    DeploymentLive.objects.bulk_create(
        DeploymentLive(deployment_id=pk, live_at=finished)
        for pk, finished in Deployment.objects.filter(status="success").values_list(
            "pk", "finished_at"
        )
    )
    deployment_ids = list(Deployment.objects.order_by("pk").values_list("pk", flat=True))
    incidents = 300
    Incident.objects.bulk_create(
        Incident(
            environment=production,
            deployment_id=deployment_ids[index * len(deployment_ids) // incidents],
            url="http://127.0.0.1:1/health",
            reason="HTTP 500",
            opened_at=start + HISTORY * index / incidents,
            resolved_at=start + HISTORY * index / incidents + timedelta(minutes=10),
        )
        for index in range(incidents)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return Seeded(
        repository=big.name,
        environment=production.name,
        run_numbers=[1, runs // 2, runs - 1],
        job_id=Job.objects.get(run_id=by_number[runs // 2], job_key="build").pk,
    )


def page_requests(seeded: Seeded, metrics_token: str = "") -> dict[str, str]:
    """What a team looks at, by the label the report gives it: ``{label: path}``."""
    name, number = seeded.repository, seeded.run_numbers[1]
    env = seeded.environment
    pages = {
        "dashboard": "/",
        "repository page": f"/repos/{name}/",
        "repository page, page 100": f"/repos/{name}/?before={number}",
        "repository page, branch": f"/repos/{name}/?branch=feature-3",
        "repository page, status": f"/repos/{name}/?status=failure",
        "repository page, event": f"/repos/{name}/?event=pull_request",
        "repository page, workflow": f"/repos/{name}/?workflow={WORKFLOWS[2]}",
        "run page": f"/repos/{name}/runs/{number}/",
        "environment page": f"/repos/{name}/environments/{env}/",
        "DORA page, 90 days": f"/repos/{name}/dora/?days=90",
        "badge": f"/badge/{name}.svg",
        "API repositories": "/api/repositories",
        "API runs": f"/api/repositories/{name}/runs",
        "API runs, branch": f"/api/repositories/{name}/runs?branch=feature-3",
        "API runs, status": f"/api/repositories/{name}/runs?status=failure",
        "API runs, workflow": f"/api/repositories/{name}/runs?workflow={WORKFLOWS[1]}",
        "API run": f"/api/repositories/{name}/runs/{number}",
        "API step log": f"/api/repositories/{name}/runs/{number}/jobs/{seeded.job_id}/steps/0/log",
        "API deployments": f"/api/repositories/{name}/environments/{env}/deployments",
        "API incidents": f"/api/repositories/{name}/environments/{env}/incidents",
        "API DORA, 90 days": f"/api/repositories/{name}/dora?days=90",
    }
    if metrics_token:
        pages["metrics"] = "/metrics"
    return pages


@dataclass
class QueryPlan:
    sql: str
    milliseconds: float
    sequential_scans: list[str]  # big tables read whole
    plan: dict[str, Any] = field(repr=False)


@dataclass
class PagePlans:
    label: str
    status: int
    queries: list[QueryPlan]

    @property
    def milliseconds(self) -> float:
        return sum(query.milliseconds for query in self.queries)

    @property
    def sequential_scans(self) -> list[str]:
        return sorted({table for query in self.queries for table in query.sequential_scans})


def page_queries(
    seeded: Seeded, metrics_token: str = "", extra: dict[str, Callable[[], Any]] | None = None
) -> Iterator[tuple[str, int, list[str]]]:
    """``(label, HTTP status, SELECTs sent)`` for each page, and for each of ``extra``'s
    callables (background work: recovery, retention) with status 0."""
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.get(username="plans"))
    headers = {"Authorization": f"Bearer {metrics_token}"} if metrics_token else {}
    for label, path in page_requests(seeded, metrics_token).items():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, headers=headers if label == "metrics" else {})
        yield label, response.status_code, _selects(captured)
    for label, work in (extra or {}).items():
        with CaptureQueriesContext(connection) as captured:
            work()
        yield label, 0, _selects(captured)


def _selects(captured: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].lstrip().upper().startswith("SELECT")
    ]


def big_tables() -> frozenset[str]:
    """The tables with ``BIG_TABLE_ROWS`` rows or more (as the last ANALYZE counted)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples >= %s",
            [BIG_TABLE_ROWS],
        )
        return frozenset(row[0] for row in cursor.fetchall())


def explain(sql: str, big: frozenset[str], repeat: int = 3) -> QueryPlan:
    """The plan of ``sql``, and its best time of ``repeat`` (the machine may be busy)."""
    documents = []
    with connection.cursor() as cursor:
        for _ in range(repeat):
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            [(result,)] = cursor.fetchall()
            documents.append(result if isinstance(result, list) else json.loads(result))
    top = min((document[0] for document in documents), key=lambda top: top["Execution Time"])
    scans = sorted(
        {
            node["Relation Name"]
            for node in _nodes(top["Plan"])
            if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in big
        }
    )
    return QueryPlan(sql, float(top["Execution Time"]), scans, top["Plan"])


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def plans(
    seeded: Seeded, metrics_token: str = "", extra: dict[str, Callable[[], Any]] | None = None
) -> list[PagePlans]:
    big = big_tables()
    return [
        PagePlans(label, status, [explain(sql, big) for sql in selects])
        for label, status, selects in page_queries(seeded, metrics_token, extra)
    ]


def report(pages: list[PagePlans]) -> str:
    """A Markdown table: each page's queries, their time under EXPLAIN ANALYZE, and the
    big tables any of them read whole."""
    lines = [
        "| page | queries | ms (EXPLAIN ANALYZE) | slowest query ms | big tables read whole |",
        "|---|---:|---:|---:|---|",
    ]
    for page in pages:
        slowest = max((query.milliseconds for query in page.queries), default=0.0)
        lines.append(
            f"| {page.label} | {len(page.queries)} | {page.milliseconds:.2f} | {slowest:.2f} "
            f"| {', '.join(page.sequential_scans) or '-'} |"
        )
    for page in pages:
        for query in page.queries:
            if query.sequential_scans:
                lines.append(f"\n{page.label}: {', '.join(query.sequential_scans)} read whole by")
                lines.append(f"    {_shortened(query.sql)}")
    return "\n".join(lines)


def _shortened(sql: str, length: int = 600) -> str:
    return sql if len(sql) <= length else sql[:length] + " ..."
