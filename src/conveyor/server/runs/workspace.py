"""Where a run's steps run: a fresh checkout of exactly its commit.

Each repository has a bare mirror in the data directory (``git clone --mirror``
once, ``git fetch`` when a commit is missing from it), and each run gets a clone
of that mirror at its commit in the workspaces directory, removed when the run
ends. Mirror operations on one repository are serialised by a lock (a thread
lock and a file lock, so that other processes on this machine take turns too).

The clone is a repository of its own (not a worktree, whose ``.git`` points into
the mirror, which a sandboxed job cannot see) that borrows the mirror's objects
without copying them, so it costs little whatever the repository's size:

- when the jobs run as another user (a root server's sandbox user), it hard-links
  them (``--local``): the links stay root's and read-only, so a job cannot change
  the mirror through them;
- otherwise it refers to them (``--shared``, git's alternates), and the sandbox
  shows the job the mirror's objects read-only (``Checkout.borrowed``), for the
  same reason.
"""

from __future__ import annotations

import fcntl
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from conveyor.server.repos import git
from conveyor.server.repos.models import Repository

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def mirrors_dir() -> Path:
    return Path(settings.DATA_DIR) / "mirrors"


def workspaces_dir() -> Path:
    return Path(settings.WORKSPACES_DIR)


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


@dataclass(frozen=True)
class Checkout:
    path: Path  # the clone, named after the repository as GitHub's runners name it
    run_dir: Path  # the run's directory: the clone and the jobs' private directories
    borrowed: Path | None  # the mirror's objects the clone refers to, if it refers


@contextmanager
def checkout(
    repository: Repository, sha: str, run_id: int, *, link_objects: bool = False
) -> Iterator[Checkout]:
    """A fresh clone holding exactly commit ``sha``; removed afterwards.

    ``link_objects``: hard-link the mirror's objects instead of referring to them
    (see the module's doc).
    """
    mirror = mirror_with_commit(repository, sha)
    run_dir = workspaces_dir() / str(run_id)
    path = run_dir / repository.name
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True, mode=0o711)
    borrow = "--local" if link_objects else "--shared"
    try:
        with repository_lock(repository):
            git.run_git(mirror, "clone", borrow, "--no-checkout", "--quiet", str(mirror), str(path))
        clone = path / ".git"
        git.run_git(clone, "--work-tree", str(path), "checkout", "--quiet", "--detach", sha)
        git.run_git(clone, "remote", "set-url", "origin", repository.url)
        yield Checkout(path, run_dir, None if link_objects else mirror / "objects")
    finally:
        remove_checkout(run_id)


def remove_checkout(run_id: int) -> None:
    shutil.rmtree(workspaces_dir() / str(run_id), ignore_errors=True)
