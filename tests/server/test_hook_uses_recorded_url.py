"""`conveyor repo add` without CONVEYOR_URL writes a hook that reaches the server where
it actually listens (a non-default port), also after a restart on another port."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import (
    ROOT,
    SEED_WORKFLOW,
    GitProject,
    server_environment,
    start_server,
)
from tests.server.test_push_e2e import push, stop

pytestmark = pytest.mark.slow  # real server processes


def runs(data: Path) -> list[tuple]:
    with sqlite3.connect(data / "conveyor.sqlite3") as database:
        return database.execute("select number, sha from runs_run order by number").fetchall()


def test_it_posts_pushes_to_the_url_the_server_recorded(
    tmp_path: Path, git_project: GitProject
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = start_server(data)  # on a free port, never 8000
    assert not server.url.endswith(":8000")
    try:
        assert (data / "server_url").read_text().strip() == server.url
        # No CONVEYOR_URL here (server_environment drops every CONVEYOR_ variable but
        # the data directory): the command finds the server's URL by itself.
        added = subprocess.run(
            [sys.executable, "-m", "conveyor", "repo", "add", "shop", str(git_project.bare)],
            env=server_environment(data),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert added.returncode == 0, added.stderr
        assert f"pushes notify {server.url}/hooks/local/shop" in added.stdout
        sha = git_project.commit({".conveyor.yml": SEED_WORKFLOW}, "Seed pipeline")
        said = push(git_project)
        # The hook's own POST made the run (its answer is what it prints), so the run is
        # there the moment the push returns; polling of a local repository only looks
        # again after a minute, and catch-up ran at start, before the repository existed.
        assert f"conveyor: refs/heads/main: run #1 (Seed pipeline) queued: {server.url}" in said
        assert runs(data) == [(1, sha)]
    finally:
        stop(server)

    restarted = start_server(data)  # another free port: the same hook follows it
    try:
        assert restarted.url != server.url
        later = git_project.commit({"README.md": "later\n"}, "After the restart")
        said = push(git_project)
        # Either answer comes from the restarted server ("already seen" when its start-up
        # catch-up happened to look at the repository after the push and before the hook).
        assert "not reachable" not in said, said
        assert f"queued: {restarted.url}" in said or "refs/heads/main: already seen" in said
        assert (2, later) in runs(data)
    finally:
        stop(restarted)
