"""What the ``github`` context says about the commit: read from the workspace with git."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

ZERO_SHA = "0" * 40


@dataclass
class GitInfo:
    sha: str = ZERO_SHA
    ref: str = "refs/heads/main"
    ref_name: str = "main"
    ref_type: str = "branch"  # branch | tag
    repository: str = "local/workspace"  # owner/name
    repository_owner: str = "local"
    actor: str = "conveyor"
    server_url: str = "https://github.com"
    head_ref: str = ""
    base_ref: str = ""
    repository_url: str = ""  # the remote URL as configured, if any
    # The working tree differs from HEAD (``conveyor run`` runs it as it is): only
    # looked at when asked, see ``working_tree_dirty``.
    dirty: bool = False


def default_actor() -> str:
    try:
        import getpass  # only outside a git repository with no user.name

        return getpass.getuser()
    except Exception:  # no user name in the environment or passwd database
        return "conveyor"


def _git(workspace: str, *args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", "-C", workspace, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip()


_REMOTE_PATTERNS = (
    # scheme://[user@]host[:port]/owner/name[.git]
    re.compile(r"^[a-z+]+://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/(?P<path>.+?)(?:\.git)?/?$"),
    # user@host:owner/name[.git]
    re.compile(r"^(?:[^@/]+@)?(?P<host>[^/:]+):(?P<path>.+?)(?:\.git)?/?$"),
)


def parse_remote_url(url: str) -> tuple[str, str] | None:
    """``(server_url, 'owner/name')`` from a git remote URL, or None."""
    for pattern in _REMOTE_PATTERNS:
        match = pattern.match(url.strip())
        if match and "/" in match["path"]:
            path = match["path"].strip("/")
            return f"https://{match['host']}", "/".join(path.split("/")[-2:])
    return None


def read_git_info(workspace: str) -> GitInfo:
    """Sha, ref and repository of the workspace; defaults where it is not a git checkout.

    Outside a repository: sha of zeros, ``refs/heads/main`` and repository
    ``local/<directory name>``. A detached HEAD that a tag points at is that tag;
    a detached HEAD without a tag keeps ``refs/heads/main``.
    """
    directory_name = os.path.basename(os.path.abspath(workspace)) or "workspace"
    info = GitInfo(
        repository=f"local/{directory_name}",
        repository_owner="local",
        actor=default_actor(),
    )
    sha = _git(workspace, "rev-parse", "--verify", "-q", "HEAD")
    if sha:
        info.sha = sha
    branch_ref = _git(workspace, "symbolic-ref", "-q", "HEAD")
    if branch_ref and branch_ref.startswith("refs/heads/"):
        info.ref, info.ref_name, info.ref_type = (
            branch_ref,
            branch_ref[len("refs/heads/") :],
            "branch",
        )
    elif sha:
        tag = _git(workspace, "describe", "--tags", "--exact-match", "HEAD")
        if tag:
            info.ref, info.ref_name, info.ref_type = f"refs/tags/{tag}", tag, "tag"
    remote = _git(workspace, "remote", "get-url", "origin")
    if remote:
        info.repository_url = remote
        parsed = parse_remote_url(remote)
        if parsed:
            info.server_url, info.repository = parsed
            info.repository_owner = info.repository.split("/", 1)[0]
    return info


def working_tree_dirty(workspace: str) -> bool:
    """Whether the working tree has changes HEAD lacks: modified, staged or new files.

    One ``git status``; untracked files count (a run in place sees them) but their
    directories are not walked file by file. False outside a repository.
    """
    status = _git(
        workspace, "status", "--porcelain", "--untracked-files=normal", "--ignore-submodules"
    )
    return bool(status)
