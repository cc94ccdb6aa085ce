"""The whole path: a real `conveyor server`, `conveyor repo add`, a real `git push`.

Checked through HTTP (the API, with a token issued by the admin's password) and
through the server's SQLite database.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import (
    ROOT,
    SEED_WORKFLOW,
    GitProject,
    ServerProcess,
    server_environment,
    start_server,
)

pytestmark = pytest.mark.slow  # real server processes


def repo_add(server: ServerProcess, project: GitProject, name: str = "shop") -> None:
    added = subprocess.run(
        [sys.executable, "-m", "conveyor", "repo", "add", name, str(project.bare)],
        env=server_environment(server.data, CONVEYOR_URL=server.url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr


def push(project: GitProject, branch: str = "main") -> str:
    pushed = subprocess.run(
        ["git", "push", "origin", f"HEAD:refs/heads/{branch}"],
        cwd=project.work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pushed.returncode == 0, pushed.stderr
    return pushed.stderr


def stop(server: ServerProcess) -> None:
    server.process.terminate()
    server.process.wait(timeout=20)


def api(server: ServerProcess, path: str, token: str) -> Any:
    request = urllib.request.Request(
        f"{server.url}/api{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def issue_token(server: ServerProcess) -> str:
    credentials = base64.b64encode(b"admin:test-password-123").decode()
    request = urllib.request.Request(
        f"{server.url}/api/tokens",
        data=json.dumps({"name": "e2e"}).encode(),
        method="POST",
        headers={"Authorization": f"Basic {credentials}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
    return answer["token"]


def wait_for_status(
    server: ServerProcess, token: str, number: int, timeout: float = 30, repository: str = "shop"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = api(server, f"/repositories/{repository}/runs/{number}", token)
        if run["status"] not in ("queued", "running"):
            return run
        if time.monotonic() > deadline:
            pytest.fail(f"run #{number} still {run['status']} after {timeout} s")
        time.sleep(0.1)


def database_runs(data: Path) -> list[tuple]:
    with sqlite3.connect(data / "conveyor.sqlite3") as database:
        return database.execute(
            "select number, event, ref, sha, status, pipeline_status from runs_run order by number"
        ).fetchall()


def test_git_push_runs_the_pipeline_and_server_down_is_caught_up(
    tmp_path: Path, git_project: GitProject
):
    data = tmp_path / "data"
    data.mkdir()
    server = start_server(data)
    try:
        repo_add(server, git_project)
        token = issue_token(server)
        sha = git_project.commit({".conveyor.yml": SEED_WORKFLOW}, "Seed pipeline")
        said = push(git_project)
        assert f"conveyor: refs/heads/main: run #1 (Seed pipeline) queued: {server.url}" in said

        run = wait_for_status(server, token, 1)
        assert (run["status"], run["sha"], run["event"]) == ("success", sha, "push")
        assert database_runs(data) == [(1, "push", "refs/heads/main", sha, "success", "Deployed")]
        with sqlite3.connect(data / "conveyor.sqlite3") as database:
            steps = database.execute("select name, status from runs_step order by id").fetchall()
        assert steps == [("Build", "success"), ("Test", "success"), ("Deploy", "success")]

        # on.push.branches is [main]: a push to another branch starts nothing.
        said = push(git_project, "feature")
        assert "refs/heads/feature: no workflow runs on this push" in said
        assert len(database_runs(data)) == 1
    finally:
        stop(server)

    # The server is down: the push still succeeds, and says so.
    later = git_project.commit({"README.md": "later\n"}, "Pushed while down")
    said = push(git_project)
    assert f"server not reachable at {server.url}; the push will be picked up" in said

    server = start_server(data)
    try:
        deadline = time.monotonic() + 20
        while len(database_runs(data)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        run = wait_for_status(server, token, 2)
        assert (run["status"], run["sha"]) == ("success", later)
        assert [row[:4] for row in database_runs(data)] == [
            (1, "push", "refs/heads/main", sha),
            (2, "push", "refs/heads/main", later),
        ]
    finally:
        stop(server)
