"""Start-up recovery fails only the runs this data directory's server claimed."""

from __future__ import annotations

import pytest
from django.conf import settings
from django_tasks_db.models import DBTaskResult

from conveyor.server.dispatch.runs import execute_run_task
from conveyor.server.runs.execute import _claim
from conveyor.server.runs.models import Job, Run, Status, Step
from conveyor.server.runs.recovery import STOPPED_REASON, recover

# Also run on PostgreSQL by scripts/test (why: see there).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def running_run(repository, number: int, claimed_by: str) -> Run:
    run = Run.objects.create(
        repository=repository,
        number=number,
        workflow_path="w.yml",
        event="push",
        status=Status.RUNNING,
        claimed_by=claimed_by,
    )
    job = Job.objects.create(run=run, job_key="build", job_id="build", status=Status.RUNNING)
    Step.objects.create(job=job, index=0, name="Build", status=Status.RUNNING)
    task = execute_run_task.enqueue(run.pk)
    DBTaskResult.objects.filter(pk=task.id).update(status="RUNNING")
    return run


def test_it_claims_a_run_in_this_servers_name(repository) -> None:
    run = Run.objects.create(repository=repository, number=1, workflow_path="w.yml", event="push")
    claimed = _claim(run.pk)
    assert claimed is not None and claimed.claimed_by == settings.SERVER_ID != ""


def test_it_leaves_another_servers_running_runs_alone(repository) -> None:
    mine = running_run(repository, 1, settings.SERVER_ID)
    legacy = running_run(repository, 2, "")  # claimed before owners were recorded
    theirs = running_run(repository, 3, "another-server-sharing-the-database")

    outcome = recover()

    assert sorted(outcome.failed_runs) == [mine.pk, legacy.pk]
    for run in (mine, legacy):
        run.refresh_from_db()
        assert (run.status, run.reason) == (Status.FAILURE, STOPPED_REASON)
    theirs.refresh_from_db()
    assert (theirs.status, theirs.reason) == (Status.RUNNING, "")
    assert Step.objects.get(job__run=theirs).status == Status.RUNNING
    assert Job.objects.get(run=theirs).status == Status.RUNNING
    tasks = {
        task.args_kwargs["args"][0]: task.status
        for task in DBTaskResult.objects.filter(task_path=execute_run_task.module_path)
    }
    assert tasks == {mine.pk: "FAILED", legacy.pk: "FAILED", theirs.pk: "RUNNING"}
