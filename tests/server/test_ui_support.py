"""Shared fixtures of the UI tests: a cast of users and a real run of a rich workflow."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from conveyor.server.accounts.models import Profile
from conveyor.server.runs import services
from conveyor.server.runs.models import Run
from tests.server.conftest import GitProject, wait_for_run_end

PASSWORD = "a-long-test-password"

# Three jobs in a line; the build step prints colours, a group, a warning and a summary;
# the test job fails, so deploy is skipped.
RICH_WORKFLOW = """\
name: CI
on:
  push:
  workflow_dispatch:
    inputs:
      greeting:
        description: What to say
        required: true
        default: hello
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Build
        run: |
          printf '\\033[32mgreen ok\\033[0m <tag>\\n'
          echo "::group::Details"
          echo "inside the group"
          echo "::endgroup::"
          echo "::warning file=app.py,line=3::Careful here"
          echo "## Build report" >> "$GITHUB_STEP_SUMMARY"
          echo "**bold** [x](javascript:alert(2))" >> "$GITHUB_STEP_SUMMARY"
          echo "<script>alert(1)</script>" >> "$GITHUB_STEP_SUMMARY"
          echo "greeting=${{ inputs.greeting }}"
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - name: Test
        run: |
          echo "running the tests"
          exit 3
  deploy:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - name: Deploy
        run: echo "Deploying to server..."
"""


def make_user(username: str, role: str | None, superuser: bool = False) -> User:
    if superuser:
        user = User.objects.create_superuser(username, f"{username}@example.com", PASSWORD)
    else:
        user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    if role is not None:
        Profile.objects.update_or_create(user=user, defaults={"role": role})
    return user


@pytest.fixture
def cast(db: None, settings: Any) -> dict[str, Client]:
    """Logged-in clients for admin, member and viewer, and an anonymous outsider."""
    # Strong password hashing costs a second a user; these passwords guard nothing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    clients = {"outsider": Client()}
    for name, role, superuser in (
        ("admin", None, True),
        ("member", "member", False),
        ("viewer", "viewer", False),
    ):
        make_user(name, role, superuser)
        client = Client()
        client.force_login(User.objects.get(username=name))
        clients[name] = client
    return clients


def push_rich_workflow(repository: Any, project: GitProject) -> Run:
    project.commit({".github/workflows/ci.yml": RICH_WORKFLOW}, "Add CI\n\nwith a body")
    before, after = project.push()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before, actor="dev"
    )
    return run


@pytest.fixture
def finished_run(repository: Any, git_project: GitProject, workers: Any) -> Run:
    """A real run of ``RICH_WORKFLOW`` by the embedded workers, ended in failure."""
    run = wait_for_run_end(push_rich_workflow(repository, git_project))
    assert run.status == "failure", run.reason
    return run
