"""read_git_info: real git repositories, and a directory that is not one."""

from __future__ import annotations

import subprocess

from conveyor.engine.git_info import ZERO_SHA, parse_remote_url, read_git_info


def git(cwd, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(path):
    git(path, "init", "-q", "-b", "trunk")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "user.name", "Dev")
    (path / "f.txt").write_text("x")
    git(path, "add", "f.txt")
    git(path, "commit", "-qm", "first")


def test_branch_sha_and_remote(tmp_path):
    make_repo(tmp_path)
    git(tmp_path, "remote", "add", "origin", "git@github.com:acme/widgets.git")
    info = read_git_info(str(tmp_path))
    assert info.sha == git(tmp_path, "rev-parse", "HEAD")
    assert (info.ref, info.ref_name, info.ref_type) == ("refs/heads/trunk", "trunk", "branch")
    assert (info.repository, info.repository_owner) == ("acme/widgets", "acme")
    assert info.server_url == "https://github.com"


def test_detached_head_on_a_tag(tmp_path):
    make_repo(tmp_path)
    git(tmp_path, "tag", "v1.0")
    git(tmp_path, "checkout", "-q", "--detach", "v1.0")
    info = read_git_info(str(tmp_path))
    assert (info.ref, info.ref_name, info.ref_type) == ("refs/tags/v1.0", "v1.0", "tag")


def test_outside_a_repository(tmp_path):
    workspace = tmp_path / "my-project"
    workspace.mkdir()
    info = read_git_info(str(workspace))
    assert info.sha == ZERO_SHA
    assert info.ref == "refs/heads/main"
    assert info.repository == "local/my-project"


def test_remote_url_forms():
    assert parse_remote_url("https://github.com/o/n.git") == ("https://github.com", "o/n")
    assert parse_remote_url("ssh://git@git.example.com:2222/team/app") == (
        "https://git.example.com",
        "team/app",
    )
    assert parse_remote_url("/some/local/path") is None
