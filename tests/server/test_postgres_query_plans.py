"""On PostgreSQL with 10,000 runs, no page a team looks at, and no background pass,
reads a big table whole: each of their queries finds its rows through an index.

Runs in scripts/test's PostgreSQL pass (SQLite plans differ and are not the concern:
a SQLite server is one machine's). ``-s`` prints the figures (see query_plans.py).
"""

from __future__ import annotations

import pytest

from tests.server import postgres_support, query_plans

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.postgres_only]

METRICS_TOKEN = "plans-metrics-token"

# Where reading the table whole is the right plan, and why.
READ_WHOLE_RIGHTLY = {
    # The scrape counts every deployment by environment, status and state.
    ("metrics", "runs_deployment"),
    # 90 days of a year's deployments: a quarter of the table, which a sequential scan
    # reads faster than 1,000 index lookups (with a longer history the plan turns to
    # the key; the 90-day default retention keeps the table near this size).
    ("DORA page, 90 days", "insights_deploymentlive"),
    ("API DORA, 90 days", "insights_deploymentlive"),
}


def background_work() -> dict[str, object]:
    from conveyor.server.dispatch import runs as dispatch_runs
    from conveyor.server.runs import retention
    from conveyor.server.runs.models import LogChunk, Run, Status

    def retention_look() -> None:
        # The queries of purge_expired without deleting: the batch of expired runs, then
        # the log chunks of that batch.
        ids = list(retention.expired(30).order_by("finished_at").values_list("pk", flat=True)[:50])
        list(LogChunk.objects.filter(step__job__run_id__in=ids).values_list("pk", flat=True)[:500])

    def recovery_look() -> None:
        running = Run.objects.filter(status=Status.RUNNING)
        list(running.filter(claimed_by__in=("server", "")).values_list("pk", flat=True))
        list(Run.objects.filter(status=Status.QUEUED, cancel_requested=False))
        dispatch_runs.enqueued_run_ids()

    return {"retention": retention_look, "start-up recovery": recovery_look}


def test_the_lists_use_indexes_on_a_big_database(settings: object) -> None:
    if not postgres_support.on_postgresql():
        pytest.skip("query plans are PostgreSQL's (scripts/test runs this in its PostgreSQL pass)")
    settings.CONVEYOR_METRICS_TOKEN = METRICS_TOKEN
    seeded = query_plans.seed(10_000)
    pages = query_plans.plans(seeded, METRICS_TOKEN, background_work())
    print("\n" + query_plans.report(pages))
    assert [page.label for page in pages if page.status not in (0, 200)] == []
    read_whole = {
        (page.label, table) for page in pages for table in page.sequential_scans
    } - READ_WHOLE_RIGHTLY
    assert sorted(read_whole) == []
