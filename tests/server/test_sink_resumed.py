"""The sink of a run a restarted server coordinates again (``DatabaseSink.resumed``):
what the scheduler's replay says again is dropped, and a matrix job that had not
started takes the row made for it, as it would have without the restart."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor.engine import events as ev
from conveyor.server.runs.models import Job, Run, Status
from conveyor.server.runs.sink import DatabaseSink
from conveyor.workflow.load import parse_workflow

pytestmark = pytest.mark.django_db(transaction=True)

WORKFLOW = """\
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo lint
  build:
    needs: lint
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - run: echo build
"""
OK = ev.Status.SUCCESS


def _run(repository: Any) -> Run:
    return Run.objects.create(
        repository=repository,
        number=1,
        workflow_path=".github/workflows/ci.yml",
        event="push",
        sha="a" * 40,
        status=Status.RUNNING,
    )


def _write(sink: DatabaseSink, *events: ev.Event) -> None:
    try:
        for event in events:
            sink.emit(event)
    finally:
        sink.close()


def test_the_replay_after_a_restart_leaves_one_row_per_job_instance(repository) -> None:
    workflow = parse_workflow(WORKFLOW, ".github/workflows/ci.yml")
    run = _run(repository)
    started = ev.RunStarted(
        "ci", ".github/workflows/ci.yml", "push", "refs/heads/main", "a" * 40, ["lint", "build"]
    )
    # The server that stopped: the run began, lint ended, no leg of build had started.
    _write(
        DatabaseSink(run, workflow),
        started,
        ev.JobStarted("lint", "lint", "lint", {}),
        ev.JobFinished("lint", "lint", OK, 0.1, name="lint"),
    )
    # The server started again replays: the run's start and lint's end come again.
    _write(
        DatabaseSink.resumed(Run.objects.get(pk=run.pk), workflow),
        started,
        ev.JobFinished("lint", "lint", OK, 0.0, name="lint"),
        ev.JobStarted("build (1)", "build", "build (1)", {"n": 1}),
        ev.JobStarted("build (2)", "build", "build (2)", {"n": 2}),
        ev.JobFinished("build (1)", "build", OK, 0.1, name="build (1)", matrix={"n": 1}),
        ev.JobFinished("build (2)", "build", OK, 0.1, name="build (2)", matrix={"n": 2}),
    )
    rows = {job.job_key: job.status for job in Job.objects.filter(run=run)}
    assert rows == {"lint": "success", "build (1)": "success", "build (2)": "success"}
