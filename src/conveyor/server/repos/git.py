"""Reading a repository with the git command: refs, commits, files at a commit."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

ZERO_SHA = "0" * 40
GIT_TIMEOUT = 300  # seconds; a fetch of a large remote may be slow, a hung one is not kept


class GitError(Exception):
    """A git command failed; the message says which and git's own words."""


def run_git(git_dir: str | Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    command = ["git", "--git-dir", str(git_dir), *args]
    try:
        completed = subprocess.run(
            command,
            input=input_bytes,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            env=_git_env(),
        )
    except FileNotFoundError:
        raise GitError("git is not installed (no 'git' on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args)} took longer than {GIT_TIMEOUT} s") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip() or "no message"
        raise GitError(f"git {' '.join(args[:3])} failed: {message}")
    return completed.stdout


def _git_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    # Never stop to ask for a password on a terminal the server does not have.
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_ASKPASS", "true")
    return env


def resolve_commit(git_dir: str | Path, revision: str) -> str | None:
    """The full sha of ``revision`` (a sha, ref or branch), or None if it is not a commit here."""
    try:
        out = run_git(git_dir, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    except GitError:
        return None
    return out.decode().strip() or None


def list_refs(git_dir: str | Path) -> dict[str, str]:
    """``{ref: sha}`` of every branch and tag (tags peeled to their commit)."""
    out = run_git(
        git_dir,
        "for-each-ref",
        "--format=%(refname) %(objectname) %(*objectname)",
        "refs/heads",
        "refs/tags",
    ).decode()
    refs: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            refs[parts[0]] = parts[2] if len(parts) > 2 and parts[2] else parts[1]
    return refs


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    author: str  # name <email>


def commit_info(git_dir: str | Path, sha: str) -> CommitInfo:
    out = run_git(git_dir, "show", "-s", "--format=%H%x00%an <%ae>%x00%B", sha).decode(
        "utf-8", "replace"
    )
    full, author, message = [*out.split("\x00", 2), "", ""][:3]
    return CommitInfo(sha=full.strip(), message=message.strip(), author=author.strip())


def list_files(git_dir: str | Path, sha: str, directory: str = "") -> list[str]:
    """Paths of the files directly in ``directory`` ("" for the root) at commit ``sha``."""
    spec = f"{sha}:{directory}" if directory else f"{sha}:"
    try:
        out = run_git(git_dir, "ls-tree", "--name-only", "-z", spec)
    except GitError:
        return []  # no such directory at that commit
    prefix = f"{directory.rstrip('/')}/" if directory else ""
    return [prefix + name for name in out.decode("utf-8", "replace").split("\x00") if name]


def read_file(git_dir: str | Path, sha: str, path: str) -> bytes:
    return run_git(git_dir, "show", f"{sha}:{path}")


def changed_paths(git_dir: str | Path, before: str | None, sha: str) -> list[str] | None:
    """Files changed from ``before`` to ``sha``; None when that cannot be known."""
    if not before or before == ZERO_SHA or resolve_commit(git_dir, before) is None:
        return None
    out = run_git(git_dir, "diff", "--name-only", "-z", "--no-renames", before, sha)
    return [name for name in out.decode("utf-8", "replace").split("\x00") if name]
