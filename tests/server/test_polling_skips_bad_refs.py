"""A polled remote that lists refs git would refuse: they are left out, the others polled."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from conveyor.server.repos import ref_state
from conveyor.server.repos.models import Repository
from conveyor.server.repos.polling import catch_up, remote_refs
from conveyor.server.runs.models import Run
from tests.server.conftest import GitProject

WORKFLOW = "on: push\nsteps:\n  - run: echo built\n"
BROKEN = ["refs/heads/a..b", "refs/heads/bad name", "refs/heads/x@{1}"]


@pytest.mark.django_db
def test_refs_with_names_git_refuses_are_not_recorded(
    git_project: GitProject, data_dir: Any, caplog: Any
):
    first = git_project.commit({".conveyor.yml": WORKFLOW})
    git_project.push()
    # Only a hand-written packed-refs holds such names; git's own upload-pack still
    # lists them (with a zero sha), so a remote can send them.
    packed = git_project.bare / "packed-refs"
    clean = packed.read_text() if packed.exists() else ""
    broken = clean + "".join(f"{first} {name}\n" for name in BROKEN)
    packed.write_text(broken)
    url = f"file://{git_project.bare}"
    assert set(remote_refs(url)) - {"refs/heads/main"}  # the listing carries them
    remote = Repository.objects.create(name="remote-shop", url=url, poll_interval=60)

    with caplog.at_level(logging.WARNING, logger="conveyor.server.repos"):
        catch_up(remote)
    assert ref_state.known(remote.id) == {"refs/heads/main": first}
    assert "ignoring a ref the remote lists" in caplog.text

    # git push and git fetch refuse to work beside them: the remote is mended, and the
    # names that went away were never taken for refs, so nothing reads as deleted.
    packed.write_text(clean)
    second = git_project.commit({"b.txt": "b\n"})
    git_project.push()
    [moved] = catch_up(remote)
    assert moved.ref == "refs/heads/main" and not moved.deleted
    assert [(run.ref, run.sha) for run in Run.objects.all()] == [("refs/heads/main", second)]
    assert ref_state.known(remote.id) == {"refs/heads/main": second}
