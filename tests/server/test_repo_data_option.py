"""``--data`` works before and after ``conveyor repo``'s action, as a real subprocess."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import ROOT, GitProject, server_environment

pytestmark = pytest.mark.slow  # each command starts Django and migrates a fresh database


def conveyor(*args: str, env_data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conveyor", *args],
        env=server_environment(env_data, CONVEYOR_URL="http://127.0.0.1:8765"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def names(data: Path) -> list[str]:
    with sqlite3.connect(data / "conveyor.sqlite3") as database:
        rows = database.execute("select name from repos_repository order by name").fetchall()
    return [name for (name,) in rows]


def test_it_takes_data_after_the_action(tmp_path: Path, git_project: GitProject) -> None:
    elsewhere = tmp_path / "env-data"  # what CONVEYOR_DATA says; --data must win
    after = tmp_path / "after"
    before = tmp_path / "before"
    added = conveyor(
        "repo", "add", "--data", str(after), "shop", str(git_project.bare), env_data=elsewhere
    )
    assert added.returncode == 0, added.stderr
    listed = conveyor("repo", "list", "--data", str(after), env_data=elsewhere)
    assert listed.returncode == 0, listed.stderr
    assert "shop" in listed.stdout
    removed = conveyor("repo", "remove", "shop", "--data", str(after), env_data=elsewhere)
    assert removed.returncode == 0, removed.stderr
    assert names(after) == []

    # The spelling that worked before still does.
    added = conveyor(
        "repo", "--data", str(before), "add", "shop", str(git_project.bare), env_data=elsewhere
    )
    assert added.returncode == 0, added.stderr
    assert names(before) == ["shop"]
    assert not (elsewhere / "conveyor.sqlite3").exists()
