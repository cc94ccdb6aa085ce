"""A pull request from a fork waits for a member's approval, then runs without secrets.

Real parts: a bare repository with the pull request's head where GitHub keeps it,
signed GitHub deliveries through Django's full request stack, the embedded
workers running the workflow, the API and the run page read back.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_tasks_db.models import DBTaskResult

from conveyor.server.runs.models import Job, Run
from conveyor.server.runs.recovery import recover
from tests.server.conftest import GitProject, wait_for_run_end
from tests.server.test_api_helpers import Api
from tests.server.test_api_helpers import cast as api_cast
from tests.server.test_fork_support import (
    base_and_head,
    configure,
    printed,
    pull_request_delivery,
    send,
    without_secrets,
    workflow,
)
from tests.server.test_ui_support import cast

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["cast"]  # the UI's logged-in clients, a fixture


@pytest.fixture
def people() -> dict[str, Any]:
    return api_cast()


@pytest.fixture
def waiting_run(client: Client, repository: Any, git_project: GitProject) -> Run:
    """A fork's pull request delivered to a repository that requires approval."""
    configure(repository)
    pr = ".github/workflows/pr.yml"
    base, head = base_and_head(
        git_project, {pr: workflow("pull_request", "base")}, {pr: workflow("pull_request", "fork")}
    )
    response = send(client, repository, pull_request_delivery(base, head, fork=True))
    assert response.status_code == 200, response.content
    [run] = Run.objects.all()
    return run


def _tasks_of(run: Run) -> int:
    return DBTaskResult.objects.filter(args_kwargs__args__0=run.pk).count()


def test_a_forks_pull_request_waits_and_nothing_runs(waiting_run, workers, people):
    run = waiting_run
    assert (run.status, run.from_fork) == ("waiting", True)
    assert run.sha == run.payload["pull_request"]["head"]["sha"]  # the fork's commit
    assert run.reason == "waiting for approval: pull request from a fork"
    assert _tasks_of(run) == 0  # never enqueued: no worker can take it
    assert not Job.objects.filter(run=run).exists()
    body = Api(people["viewer"]).get("repositories/shop/runs/1").json()
    assert (body["status"], body["from_fork"], body["approved_by"]) == ("waiting", True, "")
    assert body["reason"] == "waiting for approval: pull request from a fork"
    listed = Api(people["viewer"]).get("repositories/shop/runs", status="waiting").json()
    assert [item["number"] for item in listed["items"]] == [1]


def test_a_viewer_cannot_approve(waiting_run, people):
    response = Api(people["viewer"]).post("repositories/shop/runs/1/approve")
    assert response.status_code == 403
    assert "member or admin" in response.json()["detail"]
    assert Run.objects.get(pk=waiting_run.pk).status == "waiting"
    assert _tasks_of(waiting_run) == 0


def test_a_member_approves_through_the_api_and_it_runs_without_secrets(
    waiting_run, workers, people
):
    response = Api(people["member"]).post("repositories/shop/runs/1/approve")
    assert response.status_code == 202, response.content
    assert response.json()["approved_by"] == "max"
    run = wait_for_run_end(waiting_run)
    assert run.status == "success", run.reason
    assert (run.approved_by, run.from_fork) == ("max", True)
    assert run.approved_at is not None
    # The fork's own workflow ran, every secret empty, the variable filled.
    assert printed(run) == {**without_secrets(run), "code": "fork"}
    again = Api(people["member"]).post("repositories/shop/runs/1/approve")
    assert again.status_code == 409
    assert "not waiting for approval (it is success)" in again.json()["detail"]


def test_a_member_approves_with_the_button_on_the_run_page(waiting_run, workers, cast):
    member = Client(enforce_csrf_checks=True)
    member.force_login(User.objects.get(username="member"))
    page = member.get("/repos/shop/runs/1/").content.decode()
    form = re.search(r'<form method="post" action="([^"]+)" id="approve-form">(.*?)</form>', page)
    assert form is not None, "no approve button on the run page"
    assert "Approve and run" in form.group(2)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(2)).group(1)
    assert member.post(form.group(1)).status_code == 403  # no CSRF token: refused
    assert Run.objects.get(pk=waiting_run.pk).status == "waiting"
    viewer_page = cast["viewer"].get("/repos/shop/runs/1/").content.decode()
    assert 'id="approve-form"' not in viewer_page
    assert cast["viewer"].post(form.group(1)).status_code == 403
    response = member.post(form.group(1), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    run = wait_for_run_end(waiting_run)
    assert run.status == "success", run.reason
    assert run.approved_by == "member"
    assert printed(run) == {**without_secrets(run), "code": "fork"}
    page = member.get("/repos/shop/runs/1/").content.decode()
    assert "approved by member" in page and 'id="approve-form"' not in page


def test_a_member_can_cancel_a_waiting_run(waiting_run, people):
    response = Api(people["member"]).post("repositories/shop/runs/1/cancel")
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=waiting_run.pk)
    assert (run.status, run.reason) == ("cancelled", "cancelled by max")
    assert Api(people["member"]).post("repositories/shop/runs/1/approve").status_code == 409
    assert _tasks_of(run) == 0


def test_start_up_recovery_leaves_a_waiting_run_waiting(waiting_run):
    outcome = recover()
    assert waiting_run.pk not in outcome.failed_runs + outcome.requeued_runs
    run = Run.objects.get(pk=waiting_run.pk)
    assert (run.status, run.finished_at) == ("waiting", None)
    assert _tasks_of(run) == 0
