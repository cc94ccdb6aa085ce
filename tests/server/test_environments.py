"""Environments on the server: their secrets and variables reach the jobs that name them,
their protection rules (approval, allowed branches) hold such a job before its first
step, and one deployment at a time runs per environment, in order, across runs.

Real parts: a bare repository, the embedded workers running the engine, the API through
Django's request stack with real tokens.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from conveyor.server.repos.models import (
    Environment,
    EnvironmentSecret,
    EnvironmentVariable,
    Secret,
    Variable,
)
from conveyor.server.runs import services
from conveyor.server.runs.models import Deployment, Job, LogChunk, Run
from conveyor.server.ui.live_state import run_state
from tests.server.conftest import GitProject, wait_for, wait_for_run_end
from tests.server.test_api_helpers import Api, cast

# Also run on PostgreSQL by scripts/test (why: see there).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

# Which TOKEN a step sees, said without printing it.
WHICH_TOKEN = (
    'which_token() { case "$TOKEN" in env-token) echo env;; repo-token) echo repo;; '
    '"") echo none;; esac; }'
)
DEPLOY = """\
on: push
env:
  TOKEN: ${{ secrets.TOKEN }}
  BASH_ENV: .which-token.sh
defaults:
  run:
    shell: bash
jobs:
  build:
    runs-on: local
    steps:
      - run: echo "build sees $(which_token) ${{ vars.WHERE }}"
  deploy:
    runs-on: local
    needs: build
    environment:
      name: production
      url: https://shop.example/${{ github.run_number }}
    steps:
      - run: |
          echo "deploy sees $(which_token) ${{ vars.WHERE }} ${{ secrets.ONLY_ENV }}"
          SLEEP
"""


def push(repository: Any, git_project: GitProject, sleep: float = 0, branch: str = "main") -> Run:
    git_project.commit(
        {
            ".github/workflows/deploy.yml": DEPLOY.replace("SLEEP", f"sleep {sleep}"),
            ".which-token.sh": WHICH_TOKEN + "\n",
            "stamp": f"{time.monotonic()}\n",  # every push is a new commit
        },
        f"deploy {time.monotonic()}",
    )
    _, sha = git_project.push(branch)
    [run] = services.create_runs_for_event(
        repository, event="push", ref=f"refs/heads/{branch}", sha=sha, actor="dora"
    )
    return run


def log_of(run: Run, job_key: str) -> str:
    chunks = LogChunk.objects.filter(step__job__run=run, step__job__job_key=job_key)
    return "\n".join(chunk.text for chunk in chunks.order_by("step__index", "seq"))


def production(repository: Any, **fields: Any) -> Environment:
    environment = Environment.objects.create(repository=repository, name="production", **fields)
    secret = EnvironmentSecret(environment=environment, name="TOKEN")
    secret.set("env-token")
    secret.save()
    only = EnvironmentSecret(environment=environment, name="ONLY_ENV")
    only.set("only-in-env")
    only.save()
    EnvironmentVariable.objects.create(environment=environment, name="WHERE", value="prod")
    return environment


def repository_settings(repository: Any) -> None:
    secret = Secret(repository=repository, name="TOKEN")
    secret.set("repo-token")
    secret.save()
    Variable.objects.create(repository=repository, name="WHERE", value="repo")


def test_an_environments_secrets_and_vars_win_for_the_job_that_names_it(
    repository, git_project, workers
):
    repository_settings(repository)
    production(repository)
    run = wait_for_run_end(push(repository, git_project))
    assert run.status == "success", run.reason
    assert "build sees repo repo" in log_of(run, "build")
    # The environment's secret is masked like any other.
    assert "deploy sees env prod ***" in log_of(run, "deploy")
    [deployment] = Deployment.objects.all()
    assert (deployment.environment.name, deployment.status) == ("production", "success")
    assert (deployment.sha, deployment.triggered_by) == (run.sha, "dora")
    assert deployment.url == f"https://shop.example/{run.number}"
    assert deployment.started_at <= deployment.finished_at


def test_a_forks_run_gets_no_environment_secrets(repository, git_project, request):
    repository_settings(repository)
    production(repository)
    run = push(repository, git_project)
    # Marked as a fork's pull request's run is (forges.base.runs_fork_code reads it),
    # before any worker runs it.
    Run.objects.filter(pk=run.pk).update(from_fork=True)
    request.getfixturevalue("workers")
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    assert "build sees none repo" in log_of(run, "build")
    # Variables still reach it (they are not secrets); no secret does.
    assert "deploy sees none prod \n" in log_of(run, "deploy") + "\n"


def test_an_environment_that_requires_approval_holds_the_job_until_a_member_approves(
    repository, git_project, workers
):
    production(repository, required_approval=True)
    people = cast()
    run = push(repository, git_project)
    job = wait_for(
        lambda: Job.objects.filter(run=run, job_key="deploy", status="waiting").first(),
        what="the deploy job to wait",
    )
    assert job.reason == "waiting for a member to approve the deployment to 'production'"
    assert log_of(run, "deploy") == ""  # no step ran
    assert Run.objects.get(pk=run.pk).status == "running"
    # The run page, live: the job's reason and the flow say what it waits for.
    state = run_state(Run.objects.get(pk=run.pk))
    assert [item["reason"] for item in state["jobs"] if item["job_id"] == "deploy"] == [job.reason]
    production_node = [node for node in state["flow"] if node["name"] == "Production"]
    assert production_node == [
        {"name": "Production", "detail": "production: waiting for approval", "status": "waiting"}
    ]
    listed = Api(people["viewer"]).get("repositories/shop/environments/production/deployments")
    assert listed.status_code == 200, listed.content
    [waiting] = listed.json()
    assert (waiting["status"], waiting["run_number"], waiting["job_key"]) == (
        "waiting",
        run.number,
        "deploy",
    )
    approve = f"repositories/shop/environments/production/deployments/{waiting['id']}/approve"
    refused = Api(people["viewer"]).post(approve)
    assert refused.status_code == 403
    time.sleep(1)  # still held: nobody with the right role approved
    assert Job.objects.get(pk=job.pk).status == "waiting"
    approved = Api(people["member"]).post(approve)
    assert approved.status_code == 200, approved.content
    assert approved.json()["approved_by"] == "max"
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    assert "deploy sees env prod ***" in log_of(run, "deploy")
    assert Api(people["member"]).post(approve).status_code == 409  # not waiting any more
    [done] = Deployment.objects.all()
    assert (done.status, done.approved_by) == ("success", "max")


def test_a_rejected_deployment_fails_its_job_without_running_it(repository, git_project, workers):
    production(repository, required_approval=True)
    run = push(repository, git_project)
    wait_for(lambda: Deployment.objects.filter(run=run, status="waiting").first())
    [deployment] = Deployment.objects.all()
    reply = Api(cast()["member"]).post(
        f"repositories/shop/environments/production/deployments/{deployment.pk}/reject"
    )
    assert reply.status_code == 200, reply.content
    run = wait_for_run_end(run)
    assert run.status == "failure"
    job = Job.objects.get(run=run, job_key="deploy")
    assert (job.status, job.reason) == ("failure", "deployment rejected by max")
    assert log_of(run, "deploy") == ""


def test_a_branch_the_environment_does_not_allow_fails_before_the_first_step(
    repository, git_project, workers
):
    production(repository, allowed_branches="main\nrelease/*")
    run = wait_for_run_end(push(repository, git_project, branch="topic"))
    assert run.status == "failure"
    job = Job.objects.get(run=run, job_key="deploy")
    assert job.reason == (
        "branch 'topic' may not deploy to environment 'production' (allowed: main, release/*)"
    )
    assert log_of(run, "deploy") == ""
    assert not Deployment.objects.exists()
    allowed = wait_for_run_end(push(repository, git_project, branch="release/2"))
    assert allowed.status == "success", allowed.reason


def test_two_runs_racing_to_one_environment_deploy_one_after_the_other(
    repository, git_project, workers
):
    production(repository)
    first = push(repository, git_project, sleep=2)
    wait_for(lambda: Deployment.objects.filter(run=first, status="running").first())
    second = push(repository, git_project, sleep=0)
    job = wait_for(
        lambda: Job.objects.filter(run=second, job_key="deploy", status="waiting").first(),
        what="the second deploy to wait",
    )
    assert job.reason == (
        f"waiting for environment 'production': run #{first.number} (deploy) deploys first"
    )
    first, second = wait_for_run_end(first), wait_for_run_end(second)
    assert (first.status, second.status) == ("success", "success")
    one, two = (Deployment.objects.get(run=run) for run in (first, second))
    assert one.finished_at <= two.started_at  # never both at once
    history = Api(cast()["viewer"]).get("repositories/shop/environments/production/deployments")
    assert [item["run_number"] for item in history.json()] == [second.number, first.number]


def test_cancelling_a_run_whose_deploy_waits_ends_it_and_its_deployment(
    repository, git_project, workers
):
    production(repository, required_approval=True)
    run = push(repository, git_project)
    wait_for(lambda: Deployment.objects.filter(run=run, status="waiting").first())
    reply = Api(cast()["member"]).post(f"repositories/shop/runs/{run.number}/cancel")
    assert reply.status_code == 202, reply.content
    run = wait_for_run_end(run)
    assert run.status == "cancelled"
    assert Job.objects.get(run=run, job_key="deploy").status == "cancelled"
    [deployment] = Deployment.objects.all()
    assert deployment.status == "cancelled"
    assert log_of(run, "deploy") == ""


def test_deployments_waiting_for_one_environment_go_first_come_first_served(
    repository, git_project
):
    from conveyor.server.dispatch.embedded import EmbeddedWorkerPool

    production(repository)
    pool = EmbeddedWorkerPool(3)
    pool.start()
    try:
        first = push(repository, git_project, sleep=1.5)
        wait_for(lambda: Deployment.objects.filter(run=first, status="running").first())
        second = push(repository, git_project, sleep=0.5)
        wait_for(lambda: Deployment.objects.filter(run=second, status="queued").first())
        third = push(repository, git_project, sleep=0)
        wait_for(lambda: Deployment.objects.filter(run=third, status="queued").first())
        runs = [wait_for_run_end(run, timeout=40) for run in (first, second, third)]
    finally:
        pool.stop(timeout=15)
    assert [run.status for run in runs] == ["success"] * 3
    one, two, three = (Deployment.objects.get(run=run) for run in runs)
    # In the order they came to the environment, each after the one before had ended.
    assert one.finished_at <= two.started_at
    assert two.finished_at <= three.started_at
