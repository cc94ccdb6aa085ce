"""The seed's tables of a run: written by the sink's tracker, read by page, API and stream."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conveyor.engine import events as ev
from conveyor.server.runs.models import Annotation, LogChunk, Run, Status
from conveyor.server.runs.sink import DatabaseSink
from conveyor.server.ui.live_state import run_state
from conveyor.workflow.load import parse_workflow
from tests.server import test_ui_support as support
from tests.server.conftest import wait_for

cast = support.cast

pytestmark = pytest.mark.django_db(transaction=True)

ONE_JOB = """\
on: push
jobs:
  build:
    runs-on: local
    steps:
      - name: Build
        run: make
      - name: Test
        run: python manage.py test
"""

# Three jobs in a line, the middle one a matrix of two.
MATRIX_WORKFLOW = """\
on: push
jobs:
  build:
    runs-on: local
    steps:
      - run: make
  test:
    needs: build
    runs-on: local
    strategy:
      matrix:
        os: [linux, mac]
    steps:
      - run: make check
  deploy:
    needs: test
    runs-on: local
    steps:
      - run: make deploy
"""


def make_run(repository: Any, **fields: Any) -> Run:
    return Run.objects.create(
        repository=repository, number=1, workflow_path=".conveyor.yml", event="push", **fields
    )


def stages(run: Run) -> list[tuple[str, str]]:
    execution = Run.objects.get(pk=run.pk).execution
    return [(stage["name"], stage["status"]) for stage in execution.get("stages", [])]


def test_the_sink_writes_the_tables_when_a_stage_moves_not_for_each_log_batch(repository):
    run = make_run(repository, status=Status.RUNNING)
    sink = DatabaseSink(run, parse_workflow(ONE_JOB, run.workflow_path))
    try:
        sink.emit(ev.RunStarted("", run.workflow_path, "push", "refs/heads/main", "", ["build"]))
        sink.emit(ev.JobStarted("build", "build", "build"))
        sink.emit(ev.StepStarted("build", 0, "Build", "make"))
        wait_for(
            lambda: stages(run) == [("Build", "running"), ("Test", "queued")], what="Build running"
        )
        sink.emit(ev.LogLines("build", 0, "compiling\n12 files copied\nbye"))
        sink.emit(ev.Annotation("build", 0, "notice", "written after the log lines"))
        wait_for(lambda: Annotation.objects.filter(step__job__run=run).exists(), what="the notice")
        assert LogChunk.objects.filter(step__job__run=run).exists()
        unchanged = Run.objects.get(pk=run.pk).execution
        ok, failed = ev.Status.SUCCESS, ev.Status.FAILURE
        assert unchanged["stages"][0]["summary_line"] == ""
        assert unchanged["table"][0]["result"] == "Running"
        sink.emit(ev.StepFinished("build", 0, "Build", ok, ok, 2.0, 0))
        sink.emit(ev.StepFinished("build", 1, "Test", failed, failed, 1.0, 4))
        sink.emit(ev.JobFinished("build", "build", ev.Status.FAILURE, 3.0))
        sink.emit(ev.RunFinished(ev.Status.FAILURE, 3.5, "job build failed"))
    finally:
        sink.close()
    run = Run.objects.get(pk=run.pk)
    table = run.execution["table"]
    # The summary line the tracker took from the log went out with the next boundary.
    assert table[0]["result"] == "Succeeded in 2.0s: 12 files copied"
    assert table[1]["result"] == "Failed in 1.0s (exit code 4)"
    assert [row["next_step"] for row in table] == [
        "Proceed to Test",
        "Pipeline stopped",
        "Stopped: Test failed",
    ]
    assert run.pipeline_status == "Test failed"
    # The live stream sends what was stored, as the page draws it.
    state = run_state(run)
    assert state["table"] == table
    assert [[row["column"], row["value"]] for row in state["tracker"]] == run.execution["tracker"]


def test_a_rerun_of_failed_jobs_has_a_stage_for_each_job_it_runs(repository):
    run = make_run(repository, status=Status.RUNNING, only_jobs=["test"])
    sink = DatabaseSink(run, parse_workflow(MATRIX_WORKFLOW, run.workflow_path))
    sink.emit(ev.RunStarted("", run.workflow_path, "push", "", "", ["build", "test"]))
    sink.close()
    # `test` and what it needs; `deploy` is not part of this run.
    assert stages(run) == [("build", "queued"), ("test", "queued")]


def test_a_run_not_started_shows_the_tracker_at_start_and_no_rows_everywhere(cast, repository):
    run = make_run(repository)  # queued: no worker took it
    api = cast["viewer"].get("/api/repositories/shop/runs/1").json()
    assert api["tracker"] == [{"column": "Start", "pipeline_status": "Not started"}]
    assert api["execution_table"] == []
    page = cast["viewer"].get("/repos/shop/runs/1/").content.decode()
    rows = re.search(r'id="exec-table">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    assert rows == ""
    tracker = re.search(r'id="tracker">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    assert tracker == "<tr><td>Start</td><td>Not started</td></tr>"
    state = run_state(run)
    assert (state["table"], state["tracker"]) == ([], [{"column": "Start", "value": "Not started"}])


def test_a_run_the_server_stopped_under_ends_its_stages_with_it(cast, repository):
    from conveyor.server.runs.recovery import STOPPED_REASON, recover

    run = make_run(repository, status=Status.RUNNING)
    sink = DatabaseSink(run, parse_workflow(ONE_JOB, run.workflow_path))
    sink.emit(ev.RunStarted("", run.workflow_path, "push", "", "", ["build"]))
    sink.emit(ev.JobStarted("build", "build", "build"))
    sink.emit(ev.StepStarted("build", 0, "Build", "make"))
    sink.close()  # and no more events: the process died
    assert recover().failed_runs == [run.pk]
    api = cast["viewer"].get("/api/repositories/shop/runs/1").json()
    table = api["execution_table"]
    assert [(row["result"], row["next_step"]) for row in table] == [
        (f"Failed: {STOPPED_REASON}", "Pipeline stopped"),
        ("Skipped", "Not run"),
        ("-", "Stopped: Build failed"),
    ]
    assert api["tracker"][-1]["pipeline_status"] == "Build failed"
    # The run's own pipeline status, shown in lists and badges, says the same.
    assert api["pipeline_status"] == "Build failed"
