"""``pull_request_target`` runs the base branch's workflow at its last commit, with
secrets, even for a fork's pull request whose head changed that workflow; the
fork's own ``pull_request`` run meanwhile waits for approval."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor.server.runs.models import Run
from tests.server.conftest import GitProject, wait_for_run_end
from tests.server.test_fork_support import (
    base_and_head,
    configure,
    printed,
    pull_request_delivery,
    send,
    with_secrets,
    workflow,
)

pytestmark = pytest.mark.django_db(transaction=True)

TARGET = ".github/workflows/target.yml"
PR = ".github/workflows/pr.yml"


def test_pull_request_target_runs_the_base_commits_workflow_with_secrets(
    client: Any, repository: Any, git_project: GitProject, workers: Any
) -> None:
    configure(repository)
    base, head = base_and_head(
        git_project,
        {TARGET: workflow("pull_request_target", "base")},
        # The fork rewrites the target workflow (to print the secrets its way) and adds its own.
        {TARGET: workflow("pull_request_target", "head"), PR: workflow("pull_request", "head")},
    )
    response = send(client, repository, pull_request_delivery(base, head, fork=True))
    assert response.status_code == 200, response.content
    target = Run.objects.get(event="pull_request_target")
    fork_run = Run.objects.get(event="pull_request")
    assert (target.sha, target.ref, target.from_fork) == (base, "refs/heads/main", False)
    assert (fork_run.sha, fork_run.status) == (head, "waiting")
    target = wait_for_run_end(target)
    assert target.status == "success", target.reason
    assert printed(target) == {**with_secrets(target), "code": "base"}
    assert Run.objects.get(pk=fork_run.pk).status == "waiting"
    assert "waiting for approval: pull request from a fork" in "\n".join(
        response.json()["messages"]
    )
