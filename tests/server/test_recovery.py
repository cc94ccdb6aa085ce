"""A server killed mid-run leaves no run `running` forever; a stopped one cancels its runs."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django_tasks_db.models import DBTaskResult

from conveyor.server.dispatch.runs import execute_run_task
from conveyor.server.runs.models import Job, LogChunk, Run, Step
from conveyor.server.runs.recovery import STOPPED_REASON, recover
from tests.server.conftest import (
    ROOT,
    GitProject,
    end_processes_of_run,
    processes_of_run,
    server_environment,
    start_server,
    wait_for,
)

TICKING = """\
on: push
steps:
  - name: Build
    run: echo built
  - name: Deploy
    run: |
      setsid sleep 600 </dev/null >/dev/null 2>&1 &
      for i in $(seq 1 600); do echo "tick $i"; sleep 0.05; done
"""


@pytest.mark.django_db(transaction=True)
def test_recover_fails_running_runs_keeps_logs_and_requeues_orphans(repository):
    running = Run.objects.create(
        repository=repository, number=1, workflow_path="w.yml", event="push", status="running"
    )
    job = Job.objects.create(run=running, job_key="build", job_id="build", status="running")
    step = Step.objects.create(job=job, index=0, name="Build", status="running")
    LogChunk.objects.create(step=step, seq=0, first_line=1, line_count=2, text="one\ntwo")
    task = execute_run_task.enqueue(running.pk)
    DBTaskResult.objects.filter(pk=task.id).update(status="RUNNING")
    orphan = Run.objects.create(
        repository=repository, number=2, workflow_path="w.yml", event="push"
    )
    done = Run.objects.create(
        repository=repository, number=3, workflow_path="w.yml", event="push", status="success"
    )

    outcome = recover()

    assert outcome.failed_runs == [running.pk]
    assert outcome.requeued_runs == [orphan.pk]
    running.refresh_from_db()
    assert (running.status, running.reason) == ("failure", STOPPED_REASON)
    assert running.finished_at is not None
    assert Job.objects.get(pk=job.pk).status == "failure"
    assert Step.objects.get(pk=step.pk).status == "failure"
    assert LogChunk.objects.get(step=step).text == "one\ntwo"
    assert DBTaskResult.objects.get(pk=task.id).status == "FAILED"
    queued = DBTaskResult.objects.filter(status="READY")
    assert [t.args_kwargs["args"] for t in queued] == [[orphan.pk]]
    assert Run.objects.get(pk=done.pk).status == "success"
    # A second start finds nothing more to do.
    again = recover()
    assert (again.failed_runs, again.requeued_runs) == ([], [])


def _manage(data: Path, script: str) -> str:
    """Run Python with Django set up on the server's data directory (as another process)."""
    completed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + script],
        env=server_environment(data, DJANGO_SETTINGS_MODULE="conveyor.server.settings"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def _trigger(data: Path, project: GitProject) -> int:
    _, sha = project.push()
    return int(
        _manage(
            data,
            "from conveyor.server.repos.models import Repository\n"
            "from conveyor.server.runs.services import create_runs_for_event\n"
            f"repo, _ = Repository.objects.get_or_create(name='shop', url={str(project.bare)!r})\n"
            "[run] = create_runs_for_event(\n"
            f"    repo, event='push', ref='refs/heads/main', sha={sha!r})\n"
            "print(run.pk)\n",
        )
    )


def _query(data: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(data / "conveyor.sqlite3", timeout=10) as connection:
        return connection.execute(sql, params).fetchall()


def _run_row(data: Path, run_id: int) -> tuple[str, str]:
    [row] = _query(data, "SELECT status, reason FROM runs_run WHERE id = ?", run_id)
    return row


def _log(data: Path, run_id: int, step_index: int) -> str:
    rows = _query(
        data,
        "SELECT c.text FROM runs_logchunk c JOIN runs_step s ON c.step_id = s.id "
        'JOIN runs_job j ON s.job_id = j.id WHERE j.run_id = ? AND s."index" = ? ORDER BY c.seq',
        run_id,
        step_index,
    )
    return "\n".join(text for (text,) in rows)


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "unsandboxed"])
def test_sigkill_mid_run_then_restart_marks_the_run_failed_and_keeps_its_log(
    tmp_path, git_project, sandbox
):
    data = tmp_path / "server-data"
    git_project.commit({".conveyor.yml": TICKING})
    options = [] if sandbox else ["--no-sandbox"]
    server = start_server(data, extra_args=options)
    try:
        run_id = _trigger(data, git_project)
        wait_for(lambda: "tick 5" in _log(data, run_id, 1), what="the deploy step's output")
        assert _run_row(data, run_id)[0] == "running"
        server.process.kill()
        server.process.wait(10)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    kept = _log(data, run_id, 1)
    assert _run_row(data, run_id)[0] == "running"  # nobody was left to record the end
    if sandbox:
        # The job's namespace dies with the server: the daemon the step started too.
        wait_for(
            lambda: not processes_of_run(data, run_id), what="the sandbox to die with the server"
        )
    else:
        # Unsandboxed, the daemon (own session, no output to die on) outlives the server...
        daemons = [p for p in processes_of_run(data, run_id) if p.name() == "sleep"]
        assert any(p.cmdline()[-1:] == ["600"] for p in daemons)
        for process in processes_of_run(data, run_id):
            if process not in daemons:
                process.kill()

    restarted = start_server(data, extra_args=options)
    try:
        status, reason = _run_row(data, run_id)
        assert (status, reason) == ("failure", STOPPED_REASON)
        assert "1 run left running by a stopped server marked failed" in restarted.output()
        assert _log(data, run_id, 1) == kept and "tick 1\ntick 2" in kept
        assert "built" in _log(data, run_id, 0)
        assert _query(
            data,
            "SELECT s.status FROM runs_step s JOIN runs_job j ON s.job_id = j.id "
            'WHERE j.run_id = ? ORDER BY s."index"',
            run_id,
        ) == [("success",), ("failure",)]
        # ...and the restarted server ends it.
        wait_for(
            lambda: not processes_of_run(data, run_id),
            what="the stopped run's leftover process to end",
        )
    finally:
        restarted.process.send_signal(signal.SIGTERM)
        restarted.process.wait(15)
        end_processes_of_run(data, run_id)


@pytest.mark.slow
def test_sigterm_stops_the_server_and_records_its_runs_as_cancelled(tmp_path, git_project):
    data = tmp_path / "server-data"
    git_project.commit({".conveyor.yml": TICKING})
    server = start_server(data)
    try:
        run_id = _trigger(data, git_project)
        wait_for(lambda: "tick 2" in _log(data, run_id, 1), what="the deploy step's output")
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(15) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
    # Says why: the server stopped, not a bare "cancelled" as if a person had asked.
    assert _run_row(data, run_id) == ("cancelled", STOPPED_REASON)
    assert _query(
        data,
        "SELECT s.name, s.status, s.reason FROM runs_step s JOIN runs_job j ON s.job_id = j.id "
        'WHERE j.run_id = ? ORDER BY s."index"',
        run_id,
    ) == [("Build", "success", ""), ("Deploy", "cancelled", STOPPED_REASON)]
    assert "cancelled 1 run(s) in progress" in server.output()
    assert processes_of_run(data, run_id) == []
