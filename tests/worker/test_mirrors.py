"""A worker's git: a bare mirror per repository fetched over real smart HTTP (``git
http-backend``) with the protocol's two headers, and a fresh clone per job."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.worker.client import ServerClient
from conveyor.worker.mirrors import GitFailed, Mirrors
from tests.helpers import git
from tests.worker.conftest import commit_to, head_of
from tests.worker.receiver import WORKER_TOKEN, Dispatch, Receiver

JOB_TOKEN = "job-token-for-git"


def _serve(receiver: Receiver, served_repo: Path) -> dict[str, str]:
    receiver.add(7, Dispatch(token=JOB_TOKEN, plan={}, repository="widgets", repo_dir=served_repo))
    return ServerClient(receiver.url, WORKER_TOKEN).headers(JOB_TOKEN)


def test_a_mirror_is_fetched_with_both_headers_and_a_job_gets_a_clone(
    tmp_path: Path, receiver: Receiver, served_repo: Path
) -> None:
    headers = _serve(receiver, served_repo)
    mirrors = Mirrors(tmp_path / "mirrors")
    sha = head_of(served_repo)

    mirror = mirrors.with_commit("widgets", receiver.git_url(7), sha, headers)
    workspace = tmp_path / "workspaces" / "7" / "widgets"
    mirrors.checkout("widgets", mirror, sha, workspace, link_objects=False)

    assert (workspace / "README").read_text() == "the served repository\n"
    assert git("rev-parse", "HEAD", cwd=workspace).strip() == sha
    assert receiver.git_requests  # it went over HTTP, through the token checks
    # Nothing of either token is kept on disk: not in the mirror, not in the clone.
    for place in (mirror, workspace / ".git"):
        for path in place.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                assert WORKER_TOKEN.encode() not in content, path
                assert JOB_TOKEN.encode() not in content, path


def test_the_mirror_is_fetched_again_only_for_a_commit_it_lacks(
    tmp_path: Path, receiver: Receiver, served_repo: Path
) -> None:
    headers = _serve(receiver, served_repo)
    mirrors = Mirrors(tmp_path / "mirrors")
    first = head_of(served_repo)
    mirrors.with_commit("widgets", receiver.git_url(7), first, headers)
    asked = len(receiver.git_requests)

    mirrors.with_commit("widgets", receiver.git_url(7), first, headers)
    assert len(receiver.git_requests) == asked  # it had the commit

    second = commit_to(served_repo, {"app.py": "print('v2')\n"})
    mirror = mirrors.with_commit("widgets", receiver.git_url(7), second, headers)
    assert len(receiver.git_requests) > asked
    clone = tmp_path / "second"
    mirrors.checkout("widgets", mirror, second, clone, link_objects=True)
    assert (clone / "app.py").read_text() == "print('v2')\n"


def test_without_the_job_token_the_fetch_fails_with_gits_reason(
    tmp_path: Path, receiver: Receiver, served_repo: Path
) -> None:
    headers = _serve(receiver, served_repo)
    headers["X-Conveyor-Job-Token"] = "a stale token"
    mirrors = Mirrors(tmp_path / "mirrors")
    with pytest.raises(GitFailed) as failed:
        mirrors.with_commit("widgets", receiver.git_url(7), head_of(served_repo), headers)
    assert "a stale token" not in str(failed.value)
    assert "403" in str(failed.value) or "fatal" in str(failed.value)


def test_a_commit_the_server_does_not_have_is_said(
    tmp_path: Path, receiver: Receiver, served_repo: Path
) -> None:
    headers = _serve(receiver, served_repo)
    mirrors = Mirrors(tmp_path / "mirrors")
    with pytest.raises(GitFailed):
        mirrors.with_commit("widgets", receiver.git_url(7), "ab" * 20, headers)
