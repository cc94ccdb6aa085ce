"""``conveyor repo add|list|remove`` as a real subprocess on its own data directory."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import ROOT, GitProject, server_environment

pytestmark = pytest.mark.slow  # each command starts Django and migrates a fresh database


def conveyor(
    data: Path, *args: str, url: str = "http://127.0.0.1:8765"
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conveyor", "repo", *args],
        env=server_environment(data, CONVEYOR_URL=url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def rows(data: Path, query: str) -> list[tuple]:
    with sqlite3.connect(data / "conveyor.sqlite3") as database:
        return database.execute(query).fetchall()


def test_add_list_remove_a_local_bare_repository(tmp_path: Path, git_project: GitProject):
    data = tmp_path / "data"
    git_project.commit({"a.txt": "a\n"})
    sha = git_project.push()[1]
    added = conveyor(data, "add", "shop", str(git_project.bare))
    assert added.returncode == 0, added.stderr
    assert "pushes notify http://127.0.0.1:8765/hooks/local/shop" in added.stdout
    hook = (git_project.bare / "hooks" / "post-receive").read_text()
    assert hook.startswith(f"#!{sys.executable} -S\n")
    assert "http://127.0.0.1:8765/hooks/local/shop" in hook
    [(name, url, branch, poll, secret)] = rows(
        data,
        "select name, url, default_branch, poll_interval, webhook_secret from repos_repository",
    )
    assert (name, url, branch, poll) == ("shop", str(git_project.bare.resolve()), "main", None)
    assert secret in hook  # the hook signs with the repository's own secret
    known = rows(data, "select ref, sha from repos_knownref where ref != ''")
    assert known == [("refs/heads/main", sha)]

    listed = conveyor(data, "list")
    assert listed.returncode == 0
    assert "shop" in listed.stdout and "hook" in listed.stdout

    again = conveyor(data, "add", "shop", str(git_project.bare))
    assert again.returncode == 2
    assert "a repository named 'shop' already exists" in again.stderr

    removed = conveyor(data, "remove", "shop")
    assert removed.returncode == 0, removed.stderr
    assert not (git_project.bare / "hooks" / "post-receive").exists()
    assert rows(data, "select count(*) from repos_repository") == [(0,)]


def test_a_url_is_polled_and_can_take_webhooks(tmp_path: Path, git_project: GitProject):
    data = tmp_path / "data"
    git_project.commit({"a.txt": "a\n"})
    git_project.push()
    added = conveyor(data, "add", "remote", f"file://{git_project.bare}", "--branch", "main")
    assert added.returncode == 0, added.stderr
    assert "polled every 60 s" in added.stdout
    assert "/hooks/{github,gitlab,gitea,generic}/remote" in added.stdout
    assert not (git_project.bare / "hooks" / "post-receive").exists()
    webhooks_only = conveyor(data, "add", "hooked", f"file://{git_project.bare}", "--poll", "0")
    assert webhooks_only.returncode == 0, webhooks_only.stderr
    assert rows(data, "select name, poll_interval from repos_repository order by name") == [
        ("hooked", None),
        ("remote", 60),
    ]


def test_bad_input_gets_one_clear_line(tmp_path: Path, git_project: GitProject):
    data = tmp_path / "data"
    cases = [
        (("add", "no spaces", str(git_project.bare)), "'no spaces' is not a repository name"),
        (("add", "shop", str(git_project.work)), "is a working tree, not a bare repository"),
        (("add", "shop", str(tmp_path / "nothing")), "no such directory"),
        (("add", "shop", "https://127.0.0.1:9/none.git"), "cannot add shop: git ls-remote"),
        (("remove", "ghost"), "no repository named 'ghost'"),
    ]
    for args, message in cases:
        result = conveyor(data, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    assert rows(data, "select count(*) from repos_repository") == [(0,)]
