"""Where a run's steps run: a fresh checkout of exactly its commit.

Each repository has a bare mirror in the data directory (``git clone --mirror``
once, ``git fetch`` when a commit is missing from it), and each run gets a
detached worktree of that mirror at its commit, removed when the run ends.
Mirror operations on one repository are serialised by a lock (a thread lock and
a file lock, so that other processes on this machine take turns too).
"""

from __future__ import annotations

import fcntl
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from conveyor.server.repos import git
from conveyor.server.repos.models import Repository

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def mirrors_dir() -> Path:
    return Path(settings.DATA_DIR) / "mirrors"


def workspaces_dir() -> Path:
    return Path(settings.DATA_DIR) / "workspaces"


def mirror_path(repository: Repository) -> Path:
    return mirrors_dir() / f"{repository.name}.git"


@contextmanager
def repository_lock(repository: Repository) -> Iterator[None]:
    with _thread_locks_guard:
        lock = _thread_locks.setdefault(repository.name, threading.Lock())
    mirrors_dir().mkdir(parents=True, exist_ok=True)
    with lock, open(mirrors_dir() / f"{repository.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _source_url(repository: Repository) -> str:
    if repository.is_local:
        path = Path(repository.url).expanduser()
        if not path.exists():
            raise git.GitError(f"repository {repository.name}: {repository.url} does not exist")
        return str(path.resolve())
    return repository.url


def _clone_or_fetch(repository: Repository) -> Path:
    mirror = mirror_path(repository)
    if (mirror / "HEAD").exists():
        git.run_git(mirror, "fetch", "--prune", "--quiet", "origin")
    else:
        if mirror.exists():
            shutil.rmtree(mirror)  # a clone that was interrupted
        partial = mirror.with_name(mirror.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        git.run_git(
            mirrors_dir(), "clone", "--mirror", "--quiet", _source_url(repository), str(partial)
        )
        partial.rename(mirror)
    return mirror


def update_mirror(repository: Repository) -> Path:
    """Clone the mirror the first time, fetch every ref afterwards; returns its path."""
    with repository_lock(repository):
        return _clone_or_fetch(repository)


def mirror_with_commit(repository: Repository, sha: str) -> Path:
    """The mirror, fetched only if it does not hold ``sha`` yet (commits never change)."""
    mirror = mirror_path(repository)
    with repository_lock(repository):
        if (mirror / "HEAD").exists() and git.resolve_commit(mirror, sha):
            return mirror
        _clone_or_fetch(repository)
        if not git.resolve_commit(mirror, sha):
            raise git.GitError(
                f"commit {sha} is not in repository {repository.name} ({repository.url})"
            )
        return mirror


@contextmanager
def checkout(repository: Repository, sha: str, run_id: int) -> Iterator[Path]:
    """A fresh worktree holding exactly commit ``sha``; removed afterwards."""
    mirror = mirror_with_commit(repository, sha)
    # The directory is named after the repository, as GitHub's runners name it.
    path = workspaces_dir() / str(run_id) / repository.name
    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with repository_lock(repository):
        git.run_git(mirror, "worktree", "add", "--detach", "--force", "--quiet", str(path), sha)
    try:
        yield path
    finally:
        remove_checkout(repository, run_id)


def remove_checkout(repository: Repository, run_id: int) -> None:
    path = workspaces_dir() / str(run_id)
    shutil.rmtree(path, ignore_errors=True)
    mirror = mirror_path(repository)
    if (mirror / "HEAD").exists():
        with repository_lock(repository):
            try:
                git.run_git(mirror, "worktree", "prune")
            except git.GitError:
                pass  # a stale entry costs nothing; the next prune removes it
