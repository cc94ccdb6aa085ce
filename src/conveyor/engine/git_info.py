"""What the ``github`` context says about the commit: read from the workspace with git."""

from __future__ import annotations

import os
import re
import subprocess

from conveyor.records import record

ZERO_SHA = "0" * 40


@record
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
    # looked at when asked, see ``GitReading`` and ``working_tree_dirty``.
    dirty: bool = False


def default_actor() -> str:
    """The local user's name, as ``getpass.getuser`` finds it (without importing it)."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        name = os.environ.get(variable)
        if name:
            return name
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # no passwd entry for this uid
        return "conveyor"


def _start(workspace: str, *args: str) -> subprocess.Popen[str] | None:
    try:
        return subprocess.Popen(
            ["git", "-C", workspace, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except OSError:
        return None


def _finish(process: subprocess.Popen[str] | None) -> str | None:
    """What the command printed, or None when it failed or took over 10 seconds."""
    if process is None:
        return None
    try:
        out, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    return out.strip() if process.returncode == 0 else None


def _git(workspace: str, *args: str) -> str | None:
    return _finish(_start(workspace, *args))


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
    with GitReading(workspace, with_dirty=False) as reading:
        return reading.result()


class GitReading:
    """``read_git_info`` (and whether the tree is dirty) started now, read when needed.

    Two ``git`` commands run at once: ``git status --porcelain=v2 --branch`` gives
    the sha, the branch and the changed files in one process, and ``git remote
    get-url origin`` the repository. Started early, they run while Conveyor goes on
    starting. Use it as a context manager, so neither is left running.
    """

    def __init__(self, workspace: str, with_dirty: bool = True) -> None:
        self.workspace = workspace
        self._with_dirty = with_dirty
        untracked = "normal" if with_dirty else "no"
        self._status = _start(
            workspace,
            "status",
            "--porcelain=v2",
            "--branch",
            f"--untracked-files={untracked}",
            "--ignore-submodules",
        )
        self._remote = _start(workspace, "remote", "get-url", "origin")
        self._info: GitInfo | None = None

    def __enter__(self) -> GitReading:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.result()  # reaps both processes

    def result(self) -> GitInfo:
        if self._info is None:
            self._info = self._read()
        return self._info

    def _read(self) -> GitInfo:
        directory_name = os.path.basename(os.path.abspath(self.workspace)) or "workspace"
        info = GitInfo(
            repository=f"local/{directory_name}",
            repository_owner="local",
            actor=default_actor(),
        )
        status = _finish(self._status)
        remote = _finish(self._remote)
        oid = head = ""
        changed = False
        for line in (status or "").splitlines():
            if line.startswith("# branch.oid "):
                oid = line[len("# branch.oid ") :]
            elif line.startswith("# branch.head "):
                head = line[len("# branch.head ") :]
            elif not line.startswith("#"):
                changed = True
        sha = oid if oid and oid != "(initial)" else ""
        if sha:
            info.sha = sha
        if head and head != "(detached)":
            info.ref, info.ref_name, info.ref_type = f"refs/heads/{head}", head, "branch"
        elif sha:
            tag = _git(self.workspace, "describe", "--tags", "--exact-match", "HEAD")
            if tag:
                info.ref, info.ref_name, info.ref_type = f"refs/tags/{tag}", tag, "tag"
        info.dirty = self._with_dirty and changed
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
