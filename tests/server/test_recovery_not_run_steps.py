"""After a crash only what was running is failed; what never started shows as not run."""

from __future__ import annotations

import pytest

from conveyor.engine import events as ev
from conveyor.server.runs.models import Job, Run, Status, Step
from conveyor.server.runs.recovery import STOPPED_REASON, recover
from conveyor.server.runs.sink import DatabaseSink
from conveyor.workflow.load import parse_workflow

# Also run on PostgreSQL by scripts/test (why: see there).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

TWO_JOBS = """\
on: push
jobs:
  build:
    runs-on: local
    steps:
      - name: Build
        run: make
      - name: Test
        run: make check
      - name: Package
        run: make dist
  deploy:
    needs: build
    runs-on: local
    steps:
      - name: Deploy
        run: make deploy
"""


def test_it_skips_the_steps_and_jobs_that_never_started(repository) -> None:
    run = Run.objects.create(
        repository=repository,
        number=1,
        workflow_path=".conveyor.yml",
        event="push",
        status=Status.RUNNING,
    )
    sink = DatabaseSink(run, parse_workflow(TWO_JOBS, run.workflow_path))
    sink.emit(ev.RunStarted("", run.workflow_path, "push", "", "", ["build", "deploy"]))
    sink.emit(ev.JobStarted("build", "build", "build"))
    sink.emit(ev.StepStarted("build", 0, "Build", "make"))
    sink.emit(ev.StepFinished("build", 0, "Build", ev.Status.SUCCESS, ev.Status.SUCCESS, 0.5))
    sink.emit(ev.StepStarted("build", 1, "Test", "make check"))
    sink.close()  # and no more events: the server died during Test
    # The deploy job's row as a queued job has it (the engine had not reached it).
    Job.objects.get_or_create(
        run=run, job_key="deploy", defaults={"job_id": "deploy", "status": Status.QUEUED}
    )

    assert recover().failed_runs == [run.pk]

    steps = Step.objects.filter(job__run=run, job__job_key="build").order_by("index")
    assert [(step.name, step.status) for step in steps] == [
        ("Build", Status.SUCCESS),
        ("Test", Status.FAILURE),
        ("Package", Status.SKIPPED),
    ]
    assert steps[1].reason == STOPPED_REASON
    assert steps[2].reason == ""
    jobs = dict(Job.objects.filter(run=run).values_list("job_key", "status"))
    assert jobs == {"build": Status.FAILURE, "deploy": Status.SKIPPED}
    run.refresh_from_db()
    assert (run.status, run.reason) == (Status.FAILURE, STOPPED_REASON)
