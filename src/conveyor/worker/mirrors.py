"""The commits a worker's jobs run on: a bare mirror per repository, a clone per job.

A mirror is fetched from the server's git endpoint (smart HTTP, the claim's
``git_url``) only when it lacks the job's commit. The protocol's two headers
(the workers' token, the attempt's token) reach git through ``GIT_CONFIG_*``
variables of the git process alone: never a config file, never the command
line (which any process of the same machine can read in ``/proc``).

Each job gets a clone of the mirror at its commit, a repository of its own that
borrows the mirror's objects (``--shared``; ``--local`` hard links when jobs run
as another user, who must not reach the mirror) and is removed after the job.
Operations on one mirror take turns (a lock per repository); one worker owns its
directory (see ``leftovers.lock_worker_directory``), so no file lock is needed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

GIT_TIMEOUT = 30 * 60.0  # a first fetch of a big repository takes a while


class GitFailed(Exception):
    """A git command failed; the message says which and why (never a token)."""


def git_environment(headers: dict[str, str]) -> dict[str, str]:
    """This process's environment plus ``http.extraHeader`` for each header, for one
    git process; git is told never to ask for credentials on a terminal."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GIT_CONFIG_") and name not in ("GIT_DIR", "GIT_WORK_TREE")
    }
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_CONFIG_COUNT"] = str(len(headers))
    for index, (name, value) in enumerate(headers.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = "http.extraHeader"
        env[f"GIT_CONFIG_VALUE_{index}"] = f"{name}: {value}"
    return env


def run_git(
    *arguments: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> str:
    """Run git; its output. Raises GitFailed with git's own words."""
    try:
        done = subprocess.run(
            ["git", *arguments],
            cwd=cwd,
            env=env if env is not None else git_environment({}),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
        )
    except FileNotFoundError:
        raise GitFailed("git is not installed on this worker") from None
    except subprocess.TimeoutExpired:
        raise GitFailed(f"git {arguments[0]} took longer than {GIT_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise GitFailed(f"git {arguments[0]}: {said[-1] if said else f'exit {done.returncode}'}")
    return done.stdout


def _safe_name(repository: str) -> str:
    """A directory name for ``repository`` (free text from the server)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", repository).strip(".-")[:60] or "repository"
    digest = hashlib.sha256(repository.encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


class Mirrors:
    """The bare mirrors under ``root``, one per repository the server names."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def path(self, repository: str) -> Path:
        return self.root / f"{_safe_name(repository)}.git"

    def _lock(self, repository: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(repository, threading.Lock())

    def with_commit(self, repository: str, git_url: str, sha: str, headers: dict[str, str]) -> Path:
        """The mirror of ``repository``, fetched from ``git_url`` unless it holds ``sha``."""
        mirror = self.path(repository)
        with self._lock(repository):
            if not (mirror / "HEAD").exists():
                self._create(mirror)
            elif has_commit(mirror, sha):
                return mirror
            env = git_environment(headers)
            problem: GitFailed | None = None
            try:
                # Every branch and tag: the next commits mostly build on them, so the
                # next fetch sends little.
                run_git(
                    "fetch", "--prune", "--quiet", "--no-tags", git_url,
                    "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
                    cwd=mirror, env=env,
                )  # fmt: skip
            except GitFailed as failed:
                problem = failed
            if not has_commit(mirror, sha):
                # A commit no branch holds any more (a force-push since): ask for it.
                try:
                    run_git("fetch", "--quiet", "--no-tags", git_url, sha, cwd=mirror, env=env)
                except GitFailed as failed:
                    raise problem or failed from None
            if not has_commit(mirror, sha):
                raise GitFailed(f"commit {sha} is not in {repository}")
            return mirror

    def _create(self, mirror: Path) -> None:
        shutil.rmtree(mirror, ignore_errors=True)  # an interrupted first fetch
        mirror.parent.mkdir(parents=True, exist_ok=True)
        partial = mirror.with_name(mirror.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        run_git("init", "--bare", "--quiet", str(partial))
        # A clone borrows these objects: git's automatic gc must never drop one
        # that only a job's clone still needs.
        run_git("config", "gc.auto", "0", cwd=partial)
        partial.rename(mirror)

    def checkout(
        self, repository: str, mirror: Path, sha: str, destination: Path, *, link_objects: bool
    ) -> None:
        """A fresh clone of ``mirror`` at ``destination``, ``sha`` checked out (detached)."""
        if destination.exists():
            shutil.rmtree(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        borrow = "--local" if link_objects else "--shared"
        with self._lock(repository):
            run_git("clone", borrow, "--no-checkout", "--quiet", str(mirror), str(destination))
        clone = destination / ".git"
        run_git("--git-dir", str(clone), "--work-tree", str(destination),
                "checkout", "--quiet", "--detach", sha)  # fmt: skip


def has_commit(repository: Path, sha: str) -> bool:
    try:
        run_git("cat-file", "-e", f"{sha}^{{commit}}", cwd=repository)
    except GitFailed:
        return False
    return True
