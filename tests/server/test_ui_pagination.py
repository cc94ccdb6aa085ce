"""The repository page and the dashboard with 100,000 runs: a page costs the same number of
queries wherever it is, and each runs query is answered from an index, never a table scan
or a sort of the whole table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Run
from tests.server import test_ui_support as support

cast = support.cast

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.slow,
    # EXPLAIN QUERY PLAN is SQLite's; test_postgres_query_plans.py reads PostgreSQL's.
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="SQLite's query plans (PostgreSQL's: test_postgres_query_plans.py)",
    ),
]


RUNS = 100_000
STATUSES = ["success", "failure", "success", "cancelled", "success"]


@pytest.fixture(scope="module")
def crowded(django_db_setup: None, django_db_blocker: Any) -> Iterator[Repository]:
    """A repository with 100,000 runs on 10 branches (and a neighbour with a few), made once
    for the module: bulk-creating them is most of its time."""
    with django_db_blocker.unblock():
        shop = _fill()
    yield shop
    with django_db_blocker.unblock():
        Repository.objects.all().delete()


def _fill() -> Repository:
    shop = Repository.objects.create(name="shop", url="/nowhere/shop.git")
    other = Repository.objects.create(name="other", url="/nowhere/other.git")
    Run.objects.bulk_create(
        (
            Run(
                repository=shop,
                number=number,
                workflow_path=".github/workflows/ci.yml",
                workflow_name="CI",
                event="push" if number % 7 else "workflow_dispatch",
                ref="refs/heads/main" if number % 10 == 0 else f"refs/heads/feature-{number % 10}",
                sha=f"{number:040x}",
                commit_message=f"change {number}",
                status=STATUSES[number % len(STATUSES)],
            )
            for number in range(1, RUNS + 1)
        ),
        batch_size=5000,
    )
    Run.objects.bulk_create(
        Run(repository=other, number=n, workflow_path="a.yml", event="push", status="success")
        for n in range(1, 4)
    )
    return shop


def runs_queries(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if '"runs_run"' in query["sql"]]


def plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def assert_indexed(sql: str) -> None:
    text = plan(sql)
    assert "USING" in text and "INDEX" in text, text
    assert not re.search(r"SCAN runs_run(?! USING)", text), text
    assert "TEMP B-TREE FOR ORDER BY" not in text, text


def page_numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r"CI #(\d+)", html)]


def test_any_page_costs_the_same_queries_each_on_an_index(cast, crowded):
    viewer = cast["viewer"]
    with CaptureQueriesContext(connection) as first:
        response = viewer.get("/repos/shop/")
    assert page_numbers(response.content.decode()) == list(range(RUNS, RUNS - 50, -1))
    assert 'before=99951"' in response.content.decode()
    with CaptureQueriesContext(connection) as deep:
        response = viewer.get("/repos/shop/?before=1234")
    assert page_numbers(response.content.decode()) == list(range(1233, 1183, -1))
    assert len(first.captured_queries) == len(deep.captured_queries)
    for sql in runs_queries(first) + runs_queries(deep):
        assert_indexed(sql)


def test_filters_keep_the_page_on_an_index(cast, crowded):
    viewer = cast["viewer"]
    with CaptureQueriesContext(connection) as captured:
        response = viewer.get("/repos/shop/?branch=main&before=5000")
    numbers = page_numbers(response.content.decode())
    assert numbers == list(range(4990, 4490, -10))
    assert 'branch=main&amp;before=4500"' in response.content.decode()
    [sql] = runs_queries(captured)
    assert "run_repo_ref_number" in plan(sql)
    assert_indexed(sql)
    with CaptureQueriesContext(connection) as captured:
        response = viewer.get("/repos/shop/?status=cancelled&event=workflow_dispatch")
    numbers = page_numbers(response.content.decode())
    assert numbers and all(n % 5 == 3 and n % 7 == 0 for n in numbers)
    for sql in runs_queries(captured):
        assert "TEMP B-TREE FOR ORDER BY" not in plan(sql)


def test_the_dashboard_reads_branches_and_trend_from_indexes(cast, crowded):
    with CaptureQueriesContext(connection) as captured:
        response = cast["viewer"].get("/")
    html = response.content.decode()
    for branch in ["main", *(f"feature-{n}" for n in range(5, 10))]:
        assert f">{branch}</a>" in html, branch
    assert html.count('class="trend-bar') == 20 + 3
    # Of runs 99,981..100,000, those whose number % 5 is 0, 2 or 4 succeeded.
    assert "12 of the last 20 finished runs passed" in html
    assert "3 of the last 3 finished runs passed" in html
    queries = runs_queries(captured)
    assert len(queries) == 8  # four a repository, whatever its number of runs
    for sql in queries:
        text = plan(sql)
        assert "INDEX" in text and not re.search(r"SCAN runs_run(?! USING)", text), text
