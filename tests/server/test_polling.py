"""Polling and the start-up catch-up on real repositories (local bare, and a file:// remote)."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor.server.repos import ref_state
from conveyor.server.repos.hooks.setup import set_up_triggers
from conveyor.server.repos.models import Repository
from conveyor.server.repos.polling import Poller, catch_up, interval_of, remote_refs
from conveyor.server.runs.models import Run
from tests.server.conftest import GitProject, free_port, git, wait_for

WORKFLOW = """\
on:
  push:
    branches: [main]
    tags: ["v*"]
steps:
  - run: echo built
"""


@pytest.mark.django_db
def test_catch_up_runs_what_moved_since_the_last_look(repository: Any, git_project: GitProject):
    git_project.commit({".conveyor.yml": WORKFLOW})
    first = git_project.push()[1]
    assert catch_up(repository) == []  # the first look takes the refs as seen
    assert ref_state.known(repository.id) == {"refs/heads/main": first}

    second = git_project.commit({"a.txt": "a\n"}, "Second")
    git_project.push()
    git("tag", "-a", "v2", "-m", "two", cwd=git_project.work)
    git("push", "-q", "origin", "v2", cwd=git_project.work)
    results = catch_up(repository)
    runs = sorted((run.ref, run.sha, run.before_sha) for result in results for run in result.runs)
    assert runs == [("refs/heads/main", second, first), ("refs/tags/v2", second, "")]
    assert catch_up(repository) == []  # nothing moved since

    git("push", "-q", "origin", ":refs/tags/v2", cwd=git_project.work)
    [deleted] = catch_up(repository)
    assert deleted.deleted and deleted.runs == []
    assert "refs/tags/v2" not in ref_state.known(repository.id)
    assert Run.objects.count() == 2


def test_remote_refs_peels_annotated_tags(git_project: GitProject):
    sha = git_project.commit({"a.txt": "a\n"})
    git_project.push()
    git("tag", "-a", "v1", "-m", "one", cwd=git_project.work)
    git("push", "-q", "origin", "v1", cwd=git_project.work)
    assert remote_refs(f"file://{git_project.bare}") == {
        "refs/heads/main": sha,
        "refs/tags/v1": sha,
    }


def test_intervals(db: None):
    assert interval_of(Repository(url="/srv/git/a.git")) == 60.0
    assert interval_of(Repository(url="https://example.com/a.git")) is None  # webhooks only
    assert interval_of(Repository(url="https://example.com/a.git", poll_interval=30)) == 30.0


@pytest.fixture
def poller() -> Any:
    started: list[Poller] = []

    def start() -> Poller:
        poller = Poller()
        poller.start()
        started.append(poller)
        return poller

    yield start
    for poller in started:
        poller.stop()


def test_the_poller_creates_runs_for_a_polled_remote(
    transactional_db: None, git_project: GitProject, data_dir: Any, poller: Any
):
    git_project.commit({".conveyor.yml": WORKFLOW})
    git_project.push()
    remote = Repository.objects.create(
        name="remote-shop", url=f"file://{git_project.bare}", poll_interval=1
    )
    assert not remote.is_local
    poller()
    wait_for(lambda: ref_state.has_baseline(remote.id), what="the first look")
    sha = git_project.commit({"b.txt": "b\n"})
    git_project.push()
    run = wait_for(lambda: Run.objects.filter(repository=remote).first(), 10, "a polled run")
    assert (run.event, run.ref, run.sha, run.actor) == (
        "push",
        "refs/heads/main",
        sha,
        "conveyor (poll)",
    )


def test_pushes_made_while_the_server_was_down_run_at_start(
    transactional_db: None, repository: Any, git_project: GitProject, poller: Any
):
    git_project.commit({".conveyor.yml": WORKFLOW})
    git_project.push()
    # Added as `conveyor repo add` does; the hook then finds no server.
    set_up_triggers(repository, f"http://127.0.0.1:{free_port()}")
    sha = git_project.commit({"c.txt": "c\n"})
    git_project.push()
    assert Run.objects.count() == 0

    poller()  # as `conveyor server` starts
    run = wait_for(lambda: Run.objects.first(), 10, "the caught-up run")
    assert (run.ref, run.sha) == ("refs/heads/main", sha)
