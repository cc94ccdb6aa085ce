"""Without approval a fork's pull request runs at once, still without secrets; a
pull request from the repository itself gets them; a re-run of a fork's run does not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from conveyor.server.runs.models import Run
from tests.server.conftest import GitProject, wait_for_run_end
from tests.server.test_api_helpers import Api, cast
from tests.server.test_fork_support import (
    FIXTURES,
    base_and_head,
    configure,
    printed,
    pull_request_delivery,
    send,
    with_secrets,
    without_secrets,
    workflow,
)

pytestmark = pytest.mark.django_db(transaction=True)

PR = ".github/workflows/pr.yml"


@pytest.fixture
def shas(repository: Any, git_project: GitProject) -> tuple[str, str]:
    configure(repository)
    return base_and_head(
        git_project, {PR: workflow("pull_request", "base")}, {PR: workflow("pull_request", "head")}
    )


def test_without_approval_a_forks_run_starts_at_once_without_secrets(
    client, repository, shas, workers
):
    repository.require_fork_approval = False
    repository.save()
    response = send(client, repository, pull_request_delivery(*shas, fork=True))
    assert response.status_code == 200, response.content
    [run] = Run.objects.all()
    assert run.from_fork and run.status in ("queued", "running", "success")
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    assert run.approved_by == ""
    assert printed(run) == {**without_secrets(run), "code": "head"}


def test_a_pull_request_from_the_repository_itself_gets_its_secrets(
    client, repository, shas, workers
):
    response = send(client, repository, pull_request_delivery(*shas, fork=False))
    assert response.status_code == 200, response.content
    [run] = Run.objects.all()
    assert not run.from_fork
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    assert printed(run) == {**with_secrets(run), "code": "head"}


def test_a_rerun_of_a_forks_run_stays_without_secrets(client, repository, shas, workers):
    send(client, repository, pull_request_delivery(*shas, fork=True))
    member = Api(cast()["member"])
    assert member.post("repositories/shop/runs/1/approve").status_code == 202
    wait_for_run_end(Run.objects.get(number=1))
    response = member.post("repositories/shop/runs/1/rerun")
    assert response.status_code == 201, response.content
    assert (response.json()["from_fork"], response.json()["approved_by"]) == (True, "max")
    rerun = wait_for_run_end(Run.objects.get(number=2))
    assert rerun.status == "success", rerun.reason
    assert (rerun.attempt, rerun.from_fork) == (2, True)
    assert printed(rerun) == {**without_secrets(rerun), "code": "head"}


def test_a_gitlab_merge_request_from_a_fork_project_gets_no_secrets(
    client: Client, repository: Any, git_project: GitProject, workers: Any
) -> None:
    configure(repository)
    repository.require_fork_approval = False
    repository.save()
    _, head = base_and_head(
        git_project, {PR: workflow("pull_request", "base")}, {PR: workflow("pull_request", "head")}
    )
    data = json.loads((FIXTURES / "gitlab/fixtures/merge_request.json").read_text())
    data["object_attributes"]["last_commit"]["id"] = head
    data["object_attributes"]["source_project_id"] = 99  # the fork; the target is 15
    response = client.post(
        "/hooks/gitlab/shop",
        data=json.dumps(data),
        content_type="application/json",
        headers={
            "X-Gitlab-Token": repository.webhook_secret,
            "X-Gitlab-Event": "Merge Request Hook",
            "Idempotency-Key": "mr-fork-1",
        },
    )
    assert response.status_code == 200, response.content
    [run] = Run.objects.filter(event="pull_request")
    assert run.from_fork
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    assert printed(run) == {**without_secrets(run), "code": "head"}


def test_a_rerun_of_a_forks_run_recorded_before_from_fork_existed_gets_no_secrets(
    client, repository, shas, workers
):
    send(client, repository, pull_request_delivery(*shas, fork=True))
    member = Api(cast()["member"])
    assert member.post("repositories/shop/runs/1/approve").status_code == 202
    wait_for_run_end(Run.objects.get(number=1))
    # As the migration left runs recorded before it: from_fork false, the payload a fork's.
    Run.objects.filter(number=1).update(from_fork=False)
    assert member.post("repositories/shop/runs/1/rerun").status_code == 201
    rerun = wait_for_run_end(Run.objects.get(number=2))
    assert rerun.status == "success", rerun.reason
    assert rerun.from_fork
    assert printed(rerun) == {**without_secrets(rerun), "code": "head"}
