"""Manual triggers (API, the Run workflow form) and re-runs take only refs and shas git
would accept: a revision like ``main^`` or ``HEAD`` is not a commit sha or a branch."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conveyor.server.runs.models import Run
from tests.server.conftest import GitProject
from tests.server.test_api_helpers import Api, cast
from tests.server.test_ui_support import cast as ui_cast

pytestmark = pytest.mark.django_db

ui_cast = ui_cast  # the logged-in UI clients, as a fixture here
WORKFLOW = "on: [push, workflow_dispatch]\nsteps:\n  - run: echo built\n"


@pytest.fixture
def two_commits(git_project: GitProject) -> tuple[str, str]:
    first = git_project.commit({".conveyor.yml": WORKFLOW}, "First")
    second = git_project.commit({"README.md": "hi\n"}, "Second")
    git_project.push()
    return first, second


@pytest.mark.parametrize("sha", ["HEAD", "main", "HEAD~1", "main^", "abc1234", "a" * 5000])
def test_the_api_wants_a_full_commit_sha(repository, two_commits, sha):
    member = Api(cast()["member"])
    response = member.post("repositories/shop/runs", {"event": "push", "sha": sha})
    assert response.status_code == 400, response.content[:300]
    assert response.json()["field"] == "sha"
    assert "40 or 64 hexadecimal digits" in response.json()["detail"]
    assert len(response.json()["detail"]) < 300
    assert Run.objects.count() == 0


def test_the_api_takes_a_sha_in_capitals_as_the_same_commit(repository, two_commits):
    member = Api(cast()["member"])
    response = member.post(
        "repositories/shop/runs", {"event": "push", "sha": two_commits[0].upper()}
    )
    assert response.status_code == 201, response.content
    assert Run.objects.get().sha == two_commits[0]


@pytest.mark.parametrize("ref", ["a" * 5000, "main..x", "refs/heads/a\nb", "main@{0}", "-x"])
def test_the_api_names_a_bad_ref_without_echoing_it_whole(repository, two_commits, ref):
    member = Api(cast()["member"])
    response = member.post("repositories/shop/runs", {"event": "push", "ref": ref})
    assert response.status_code == 400, response.content[:300]
    assert response.json()["field"] == "ref"
    assert "not a valid git ref name" in response.json()["detail"]
    assert len(response.json()["detail"]) < 300
    assert Run.objects.count() == 0


@pytest.mark.parametrize("branch", ["main^", "main~1", "main@{0}", "main:x", "HEAD", "-x"])
def test_the_run_workflow_form_takes_a_branch_name_only(ui_cast, repository, two_commits, branch):
    response = ui_cast["member"].post(
        "/repos/shop/dispatch", {"workflow": ".conveyor.yml", "branch": branch}, follow=True
    )
    assert b"not a valid git branch name" in response.content
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    ("ref", "sha"),
    [("refs/heads/a..b", None), ("refs/heads/main\nx", None), ("refs/heads/main", "HEAD")],
)
def test_a_run_recorded_with_a_bad_ref_is_not_re_run(repository, two_commits, ref, sha):
    """A run stored before these checks existed (or written by hand) cannot spread further."""
    now = timezone.now()
    old = Run.objects.create(
        repository=repository,
        number=1,
        workflow_path=".conveyor.yml",
        event="push",
        ref=ref,
        sha=sha or two_commits[1],
        status="success",
        started_at=now,
        finished_at=now,
    )
    response = Api(cast()["member"]).post(f"repositories/shop/runs/{old.number}/rerun")
    assert response.status_code == 409, response.content[:300]
    assert "ref" in response.json()["detail"] or "sha" in response.json()["detail"]
    assert list(Run.objects.all()) == [old]
