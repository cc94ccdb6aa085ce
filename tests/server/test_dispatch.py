"""Dispatch: enqueue_run -> django-tasks-db -> the embedded worker pool."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django_tasks_db.models import DBTaskResult

from conveyor.server.dispatch.embedded import EmbeddedWorkerPool
from conveyor.server.dispatch.runs import enqueue_run, execute_run_task
from conveyor.server.runs import services
from conveyor.server.runs.execute import execute_run
from conveyor.server.runs.models import Run
from tests.server import postgres_support
from tests.server.conftest import ROOT, wait_for, wait_for_run_end

# Also run on PostgreSQL by scripts/test (why: see there).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

QUICK = "on: push\nsteps:\n  - name: Build\n    run: echo built\n"


def test_a_run_enqueued_in_this_process_wakes_an_idle_worker(repository, git_project, workers):
    git_project.commit({".conveyor.yml": QUICK})
    _, sha = git_project.push()
    delays = []
    for _ in range(5):
        time.sleep(0.2)  # the workers are idle, waiting
        [run] = services.create_runs_for_event(
            repository, event="push", ref="refs/heads/main", sha=sha
        )
        run = wait_for_run_end(run)
        assert run.status == "success", run.reason
        delays.append((run.started_at - run.created_at).total_seconds())
    # A worker polling every second would start runs ~0.5 s late on average.
    assert statistics.median(delays) < 0.25, delays


def test_a_task_enqueued_by_another_process_is_picked_up(repository, git_project, workers):
    git_project.commit({".conveyor.yml": QUICK})
    _, sha = git_project.push()
    run = Run.objects.create(
        repository=repository,
        number=1,
        workflow_path=".conveyor.yml",
        event="push",
        ref="refs/heads/main",
        sha=sha,
    )
    script = (
        "import django; django.setup()\n"
        "from conveyor.server.dispatch.runs import enqueue_run\n"
        "from conveyor.server.runs.models import Run\n"
        f"enqueue_run(Run.objects.get(pk={run.pk}))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "CONVEYOR_DATA": str(settings.DATA_DIR),
            "DATABASE_URL": postgres_support.database_url(),
            "DJANGO_SETTINGS_MODULE": "conveyor.server.settings",
        },
    )
    run = wait_for_run_end(run, timeout=10)
    assert run.status == "success", run.reason


def test_several_workers_run_each_task_once(repository, git_project, transactional_db):
    git_project.commit({".conveyor.yml": QUICK})
    _, sha = git_project.push()
    runs = [
        services.create_runs_for_event(repository, event="push", ref="refs/heads/main", sha=sha)[0]
        for _ in range(10)
    ]
    pool = EmbeddedWorkerPool(3)
    pool.start()
    try:
        for run in runs:
            assert wait_for_run_end(run).status == "success"
    finally:
        pool.stop()
    tasks = list(DBTaskResult.objects.filter(task_path=execute_run_task.module_path))
    assert len(tasks) == 10
    assert all(task.status == "SUCCESSFUL" and len(task.worker_ids) == 1 for task in tasks)
    assert sorted(task.args_kwargs["args"][0] for task in tasks) == sorted(r.pk for r in runs)


def test_a_run_cancelled_before_a_worker_took_it_never_starts(repository, git_project, workers):
    git_project.commit({".conveyor.yml": QUICK})
    _, sha = git_project.push()
    run = Run.objects.create(
        repository=repository, number=1, workflow_path=".conveyor.yml", event="push", sha=sha
    )
    services.cancel(run)
    enqueue_run(run)
    wait_for(
        lambda: DBTaskResult.objects.filter(status="SUCCESSFUL").exists(),
        what="the task to finish",
    )
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run.started_at is None and not run.jobs.exists()


def test_a_run_that_cannot_start_ends_failed_not_running(repository, git_project, data_dir):
    git_project.commit({".conveyor.yml": QUICK})
    git_project.push()
    run = Run.objects.create(
        repository=repository,
        number=1,
        workflow_path=".conveyor.yml",
        event="push",
        sha="1234567" * 5 + "89abc",
    )
    assert execute_run(run.pk) == "failure"
    run.refresh_from_db()
    assert run.status == "failure"
    assert "cannot check out 1234567" in run.reason
    assert "is not in repository shop" in run.reason
    assert run.finished_at is not None


def test_a_workflow_that_vanished_ends_failed_with_its_problem(repository, git_project, data_dir):
    sha = git_project.commit({"README": "no workflow here\n"})
    git_project.push()
    run = Run.objects.create(
        repository=repository, number=1, workflow_path=".conveyor.yml", event="push", sha=sha
    )
    assert execute_run(run.pk) == "failure"
    run.refresh_from_db()
    assert ".conveyor.yml" in run.reason and run.finished_at is not None
