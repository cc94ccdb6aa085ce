"""Runs end to end: a real bare repository, a real push, the embedded workers, SQLite rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from conveyor.server.repos.models import Secret
from conveyor.server.runs import services
from conveyor.server.runs.models import Job, LogChunk, Run, Step
from conveyor.server.runs.sink import CHUNK_CAP, split_into_chunks
from tests.server.conftest import (
    SEED_WORKFLOW,
    GitProject,
    wait_for,
    wait_for_run_end,
    workspace_of,
)

# Also run on PostgreSQL by scripts/test (why: see there).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def push_and_create(repository: Any, project: GitProject, branch: str = "main") -> list[Run]:
    before, after = project.push(branch)
    return services.create_runs_for_event(
        repository,
        event="push",
        ref=f"refs/heads/{branch}",
        sha=after,
        before_sha=before,
        actor="tester",
    )


def log_text(step: Step) -> str:
    return "\n".join(chunk.text for chunk in step.log_chunks.order_by("seq"))


def test_a_pushed_commit_runs_to_success(repository, git_project, workers):
    sha = git_project.commit({".conveyor.yml": SEED_WORKFLOW, "app.py": "print(1)\n"}, "Add app")
    [run] = push_and_create(repository, git_project)
    assert (run.number, run.status, run.sha, run.branch) == (1, "queued", sha, "main")
    assert run.commit_message == "Add app"
    assert run.commit_author == "Test <test@example.com>"

    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    assert run.pipeline_status == "Deployed"
    assert run.started_at and run.finished_at and run.duration.total_seconds() >= 0
    [job] = Job.objects.filter(run=run)
    assert job.status == "success"
    steps = list(job.steps.order_by("index"))
    assert [(s.name, s.status, s.exit_code) for s in steps] == [
        ("Build", "success", 0),
        ("Test", "success", 0),
        ("Deploy", "success", 0),
    ]
    assert "Deploying to server..." in log_text(steps[2])
    first = steps[2].log_chunks.order_by("seq").first()
    assert first.first_line == 1
    # The workspace of the run is removed when it ends.
    assert not (Path(settings.WORKSPACES_DIR) / str(run.pk)).exists()


def test_the_workspace_holds_exactly_the_pushed_commit(repository, git_project, workers):
    workflow = (
        "on: push\nsteps:\n  - name: Show\n"
        "    run: |\n      git rev-parse HEAD\n      cat version.txt\n      pwd\n"
    )
    first = git_project.commit({".conveyor.yml": workflow, "version.txt": "one\n"})
    git_project.push()
    git_project.commit({"version.txt": "two\n"})
    git_project.push()
    # A run for the older commit still sees the older files.
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=first
    )
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    text = log_text(Step.objects.get(job__run=run, index=0))
    assert first in text
    assert "one" in text.split("\n") and "two" not in text.split("\n")
    assert text.split("\n")[-1] == f"{settings.WORKSPACES_DIR}/{run.pk}/shop"


def test_a_branch_excluded_by_on_push_branches_starts_nothing(repository, git_project):
    git_project.commit({".conveyor.yml": SEED_WORKFLOW})
    assert push_and_create(repository, git_project, branch="feature") == []
    assert Run.objects.count() == 0


def test_only_workflows_whose_on_accepts_the_event_run(repository, git_project):
    git_project.commit(
        {
            ".github/workflows/ci.yml": "on: push\njobs:\n  a:\n    runs-on: x\n"
            "    steps:\n      - run: echo a\n",
            ".github/workflows/pr.yml": "on: pull_request\njobs:\n  b:\n    runs-on: x\n"
            "    steps:\n      - run: echo b\n",
            ".github/workflows/docs.yaml": "on:\n  push:\n    paths: ['docs/**']\njobs:\n"
            "  c:\n    runs-on: x\n    steps:\n      - run: echo c\n",
        }
    )
    git_project.push()
    git_project.commit({"src/app.py": "x = 1\n"})
    runs = push_and_create(repository, git_project)
    # docs.yaml: the push changed no file under docs/ (paths computed from before..after).
    assert [r.workflow_path for r in runs] == [".github/workflows/ci.yml"]
    assert [r.number for r in runs] == [1]


def test_a_deleted_branch_starts_nothing(repository, git_project):
    git_project.commit({".conveyor.yml": SEED_WORKFLOW})
    git_project.push()
    runs = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha="0" * 40, before_sha="1" * 40
    )
    assert runs == [] and Run.objects.count() == 0


def test_dispatching_a_workflow_without_workflow_dispatch_says_why(repository, git_project):
    sha = git_project.commit(
        {
            ".github/workflows/ci.yml": "on: push\njobs:\n  a:\n"
            "    runs-on: x\n    steps:\n      - run: echo a\n"
        }
    )
    git_project.push()
    with pytest.raises(services.RunRequestInvalid, match="does not run on workflow_dispatch"):
        services.create_runs_for_event(
            repository,
            event="workflow_dispatch",
            ref="refs/heads/main",
            sha=sha,
            only_workflow=".github/workflows/ci.yml",
        )


def test_an_invalid_workflow_gives_a_failed_run_naming_the_place(repository, git_project):
    git_project.commit({".conveyor.yml": "on: push\nsteps:\n  - name: Build\n    runn: make\n"})
    [run] = push_and_create(repository, git_project)
    assert run.status == "failure"
    assert ".conveyor.yml:4:5" in run.reason
    assert "runn" in run.reason
    assert run.finished_at is not None


def test_cancel_kills_the_running_step(repository, git_project, workers):
    from conveyor.executors import process_tree
    from conveyor.server.runs.execute import RUN_MARK_VARIABLE, run_mark

    workflow = "on: push\nsteps:\n  - name: Wait\n    run: |\n      echo started\n      sleep 60\n"
    git_project.commit({".conveyor.yml": workflow})
    [run] = push_and_create(repository, git_project)
    mark = {run_mark(run.pk)}
    # Found as the server's restart would find them: by the mark every step carries.
    wait_for(
        lambda: process_tree.processes_with_env(RUN_MARK_VARIABLE, mark),
        what="the step's processes",
    )
    # Its first line stored: what the step said before the cancel must be kept.
    wait_for(
        lambda: LogChunk.objects.filter(step__job__run=run, text__contains="started").exists(),
        what="the step's first line",
    )
    services.cancel(run)
    run = wait_for_run_end(run, timeout=10)
    assert run.status == "cancelled"
    step = Step.objects.get(job__run=run, index=0)
    assert step.status == "cancelled"
    assert "started" in log_text(step)
    assert process_tree.processes_with_env(RUN_MARK_VARIABLE, mark) == []


def test_a_cancel_requested_by_another_process_is_noticed_by_the_heartbeat(
    repository, git_project, workers
):
    workflow = "on: push\nsteps:\n  - name: Wait\n    run: echo started; sleep 60\n"
    git_project.commit({".conveyor.yml": workflow})
    [run] = push_and_create(repository, git_project)
    wait_for(
        lambda: Step.objects.filter(job__run=run, status="running").exists(),
        what="the step to start",
    )
    # What `cancel` does from a process that does not run the run: only the flag.
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)
    run = wait_for_run_end(run, timeout=10)
    assert run.status == "cancelled"
    assert run.heartbeat_at is not None and run.heartbeat_at > run.started_at


def test_cancel_of_a_queued_run_ends_it_at_once(repository, git_project):
    git_project.commit({".conveyor.yml": SEED_WORKFLOW})
    [run] = push_and_create(repository, git_project)  # no workers: it stays queued
    services.cancel(run)
    run.refresh_from_db()
    assert (run.status, run.cancel_requested) == ("cancelled", True)
    assert run.finished_at is not None


CONCURRENT = """\
on: push
concurrency:
  group: deploy-${{ github.ref }}
  cancel-in-progress: true
steps:
  - name: Deploy
    run: |
      echo "deploying $(cat version.txt)"
      if [ "$(cat version.txt)" = slow ]; then sleep 60; fi
"""


def test_concurrency_cancel_in_progress_cancels_the_older_run(repository, git_project, workers):
    git_project.commit({".conveyor.yml": CONCURRENT, "version.txt": "slow\n"})
    [first] = push_and_create(repository, git_project)
    wait_for(
        lambda: Step.objects.filter(job__run=first, status="running").exists(),
        what="the first run's step to start",
    )
    git_project.commit({"version.txt": "fast\n"})
    [second] = push_and_create(repository, git_project)
    assert second.concurrency_group == "deploy-refs/heads/main"
    first = wait_for_run_end(first, timeout=10)
    assert first.status == "cancelled"
    assert first.reason == ("cancelled: run #2 of concurrency group 'deploy-refs/heads/main'")
    second = wait_for_run_end(second)
    assert second.status == "success", second.reason


def test_concurrency_without_cancel_waits_for_the_run_in_progress(repository, git_project, workers):
    workflow = (
        "on: push\nconcurrency: one-at-a-time\nsteps:\n  - name: Work\n"
        "    run: while [ ! -e gate ]; do sleep 0.05; done\n"
    )
    git_project.commit({".conveyor.yml": workflow})
    [first] = push_and_create(repository, git_project)
    wait_for(lambda: Run.objects.get(pk=first.pk).status == "running", what="the first run")
    [second] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=git_project.head()
    )
    [third] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=git_project.head()
    )
    second.refresh_from_db()
    # The newer queued run replaces the older one; it waits for the running one.
    assert second.status == "cancelled"
    assert Run.objects.get(pk=third.pk).status == "queued"
    (workspace_of(first) / "gate").write_text("open")
    assert wait_for_run_end(first).status == "success"
    wait_for(lambda: workspace_of(third).is_dir(), what="the third run's checkout")
    (workspace_of(third) / "gate").write_text("open")
    assert wait_for_run_end(third).status == "success"


def test_secrets_are_encrypted_at_rest_and_masked_in_logs(repository, git_project, workers):
    raw = "s3cr3t-Value-9f8e7d"
    secret = Secret(repository=repository, name="DEPLOY_TOKEN")
    secret.set(raw)
    secret.save()
    assert raw not in secret.value_encrypted
    assert raw not in str(secret) and raw not in repr(secret)
    assert Secret.objects.get(pk=secret.pk).reveal() == raw
    workflow = (
        "on: push\nsteps:\n  - name: Deploy\n"
        '    run: echo "token is ${{ secrets.DEPLOY_TOKEN }}"; echo "env $TOKEN"\n'
        "    env:\n      TOKEN: ${{ secrets.DEPLOY_TOKEN }}\n"
    )
    git_project.commit({".conveyor.yml": workflow})
    [run] = push_and_create(repository, git_project)
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    text = log_text(Step.objects.get(job__run=run, index=0))
    assert "token is ***" in text and "env ***" in text
    assert raw not in text
    database = Path(settings.DATABASES["default"]["NAME"])
    for path in (database, Path(f"{database}-wal")):
        if path.exists():
            assert raw.encode() not in path.read_bytes(), path


def test_steps_do_not_see_the_servers_own_settings(repository, git_project, workers):
    workflow = "on: push\nsteps:\n  - run: env | cut -d= -f1 | sort\n"
    git_project.commit({".conveyor.yml": workflow})
    [run] = push_and_create(repository, git_project)
    run = wait_for_run_end(run)
    names = log_text(Step.objects.get(job__run=run, index=0)).split("\n")
    assert "GITHUB_SHA" in names
    # The one CONVEYOR_ variable a step sees is the run's opaque mark (for recovery).
    server_settings = [n for n in names if n.startswith("CONVEYOR_") or n == "DATABASE_URL"]
    assert server_settings == ["CONVEYOR_RUN_MARK"]


def test_a_large_log_is_stored_in_capped_chunks_with_line_numbers(repository, git_project, workers):
    lines = 40_000
    workflow = (
        "on: push\nsteps:\n  - name: Noisy\n"
        f"    run: python3 -c \"[print('line', i, 'x' * 60) for i in range(1, {lines} + 1)]\"\n"
    )
    git_project.commit({".conveyor.yml": workflow})
    [run] = push_and_create(repository, git_project)
    run = wait_for_run_end(run, timeout=60)
    assert run.status == "success", run.reason
    step = Step.objects.get(job__run=run, index=0)
    chunks = list(step.log_chunks.order_by("seq"))
    assert len(chunks) > 10
    expected_line = 1
    for seq, chunk in enumerate(chunks):
        assert chunk.seq == seq
        assert chunk.first_line == expected_line
        assert len(chunk.text.encode()) <= CHUNK_CAP
        assert chunk.line_count == len(chunk.lines())
        expected_line += chunk.line_count
    numbered = [line for c in chunks for line in c.lines() if line.startswith("line ")]
    assert len(numbered) == lines
    assert numbered[0].startswith("line 1 ") and numbered[-1].startswith(f"line {lines} ")
    assert LogChunk.objects.filter(step=step).count() == len(chunks)


def test_split_into_chunks_respects_the_cap_and_keeps_every_line():
    text = "\n".join(f"{i:05d} " + "é" * 100 for i in range(3000))
    pieces = split_into_chunks(text, cap=10_000)
    assert all(len(piece.encode()) <= 10_000 for piece, _ in pieces)
    assert "\n".join(piece for piece, _ in pieces) == text
    assert sum(count for _, count in pieces) == 3000
    long_line = "y" * 50_000
    assert split_into_chunks(long_line, cap=10_000) == [(long_line, 1)]


def test_rerun_creates_the_next_attempt(repository, git_project, workers):
    git_project.commit({".conveyor.yml": SEED_WORKFLOW})
    [run] = push_and_create(repository, git_project)
    run = wait_for_run_end(run)
    again = services.rerun(run)
    assert (again.number, again.attempt, again.rerun_of_id, again.sha) == (2, 2, run.pk, run.sha)
    again = wait_for_run_end(again)
    assert again.status == "success"


FAILING_GRAPH = """\
on: push
jobs:
  build:
    runs-on: local
    steps:
      - run: echo built
  test:
    runs-on: local
    needs: build
    steps:
      - run: test -e passes
  report:
    runs-on: local
    needs: test
    if: always()
    steps:
      - run: echo report
  lint:
    runs-on: local
    steps:
      - run: echo lint
"""


def test_rerun_of_failed_jobs_runs_them_and_their_dependents(repository, git_project, workers):
    git_project.commit({".conveyor.yml": FAILING_GRAPH})
    [run] = push_and_create(repository, git_project)
    run = wait_for_run_end(run)
    assert run.status == "failure"
    assert Job.objects.get(run=run, job_id="test").status == "failure"
    again = services.rerun(run, failed_only=True)
    assert again.only_jobs == ["report", "test"]
    again = wait_for_run_end(again)
    ran = set(again.jobs.exclude(status="queued").values_list("job_id", flat=True))
    assert "lint" not in ran and {"test", "report"} <= ran


def test_rerun_of_failed_jobs_of_a_successful_run_is_refused(repository, git_project, workers):
    git_project.commit({".conveyor.yml": SEED_WORKFLOW})
    [run] = push_and_create(repository, git_project)
    run = wait_for_run_end(run)
    with pytest.raises(services.RunRequestInvalid, match="no failed jobs"):
        services.rerun(run, failed_only=True)


def test_workflow_dispatch_checks_inputs(repository, git_project):
    workflow = (
        "on:\n  workflow_dispatch:\n    inputs:\n      target:\n        type: choice\n"
        "        options: [staging, production]\n        required: true\n"
        "jobs:\n  deploy:\n    runs-on: x\n    steps:\n      - run: echo ${{ inputs.target }}\n"
    )
    sha = git_project.commit({".github/workflows/deploy.yml": workflow})
    git_project.push()
    [run] = services.create_runs_for_event(
        repository,
        event="workflow_dispatch",
        ref="refs/heads/main",
        sha=sha,
        inputs={"target": "staging"},
        only_workflow=".github/workflows/deploy.yml",
    )
    assert run.inputs == {"target": "staging"}
    with pytest.raises(services.RunRequestInvalid, match="target"):
        services.create_runs_for_event(
            repository,
            event="workflow_dispatch",
            ref="refs/heads/main",
            sha=sha,
            inputs={"target": "moon"},
        )
    with pytest.raises(services.RunRequestInvalid, match="no workflow"):
        services.create_runs_for_event(
            repository,
            event="workflow_dispatch",
            ref="refs/heads/main",
            sha=sha,
            only_workflow=".github/workflows/nope.yml",
        )


def test_run_numbers_are_unique_per_repository_under_concurrent_creation(repository, git_project):
    import threading

    from django.db import connection

    git_project.commit({".conveyor.yml": SEED_WORKFLOW})
    _, sha = git_project.push()
    errors: list[BaseException] = []

    def create() -> None:
        try:
            for _ in range(5):
                services.create_runs_for_event(
                    repository, event="push", ref="refs/heads/main", sha=sha
                )
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = sorted(Run.objects.filter(repository=repository).values_list("number", flat=True))
    assert numbers == list(range(1, 21))


def test_annotations_summaries_and_matrix_jobs_become_rows(repository, git_project, workers):
    workflow = """\
on: push
jobs:
  test:
    runs-on: local
    strategy:
      matrix:
        python: ["3.11", "3.12"]
    steps:
      - name: Check
        run: |
          echo "::error file=app.py,line=3,col=2,title=Bad call::broken on ${{ matrix.python }}"
          echo "## Tested ${{ matrix.python }}" >> "$GITHUB_STEP_SUMMARY"
  deploy:
    runs-on: local
    needs: test
    steps:
      - run: echo deploy
"""
    git_project.commit({".conveyor.yml": workflow})
    [run] = push_and_create(repository, git_project)
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    jobs = list(run.jobs.order_by("order", "job_key"))
    assert [(j.job_key, j.job_id, j.status) for j in jobs] == [
        ("test (3.11)", "test", "success"),
        ("test (3.12)", "test", "success"),
        ("deploy", "deploy", "success"),
    ]
    assert jobs[0].matrix == {"python": "3.11"} and jobs[2].needs == ["test"]
    step = Step.objects.get(job=jobs[1], index=0)
    [annotation] = step.annotations.all()
    assert (annotation.level, annotation.file, annotation.line, annotation.column) == (
        "error",
        "app.py",
        3,
        2,
    )
    assert annotation.title == "Bad call" and annotation.message == "broken on 3.12"
    assert step.summary_markdown.strip() == "## Tested 3.12"
