"""Repositories named by ``uses: owner/repo[/path]@ref``, fetched with git into a store.

The store keeps one bare mirror per repository (``<root>/<owner>/<repo>.git``) and
one read-only tree per commit used (``<root>/<owner>/<repo>/<sha>``), so a commit
is fetched once and a tree is written once, then shared by every run. A ref that
is a full commit SHA already in the mirror needs no network at all; a tag or a
branch is fetched again each time, and if that fails (an air-gapped machine, the
forge down), the copy fetched before is used with a warning.

The base URL is configurable (``CONVEYOR_ACTIONS_URL``): ``https://github.com`` by
default, a mirror on an air-gapped site, or a directory of bare repositories in
tests. Git runs without a terminal prompt, so a private repository fails at once.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

DEFAULT_BASE_URL = "https://github.com"
FETCH_TIMEOUT_SECONDS = 300

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_FULL_SHA = re.compile(r"[0-9a-f]{40}")


class FetchError(Exception):
    """The repository or the ref could not be had; the message says which and why."""


@dataclass(frozen=True)
class FetchedTree:
    directory: str  # the repository's files at ``sha``; never write here
    sha: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ActionStore:
    root: str  # where the mirrors and trees are kept
    base_url: str = DEFAULT_BASE_URL

    def url_of(self, repository: str) -> str:
        return f"{self.base_url.rstrip('/')}/{repository}"


def split_reference(uses: str) -> tuple[str, str, str]:
    """``owner/repo/sub/path@ref`` → (``owner/repo``, ``sub/path``, ``ref``)."""
    name, _, ref = uses.partition("@")
    parts = name.split("/")
    return "/".join(parts[:2]), "/".join(parts[2:]), ref


def fetch_tree(store: ActionStore, repository: str, ref: str) -> FetchedTree:
    """The files of ``repository`` (``owner/repo``) at ``ref``, fetched if need be."""
    owner, _, name = repository.partition("/")
    for part in (owner, name):
        if not _NAME.fullmatch(part) or part in (".", ".."):
            raise FetchError(f"{repository!r} is not a repository name (owner/repo)")
    # The names are folded so that Actions/Checkout and actions/checkout share a copy.
    base = os.path.join(store.root, owner.lower(), name.lower())
    os.makedirs(os.path.dirname(base), exist_ok=True)
    with _locked(base + ".lock"):
        mirror = base + ".git"
        if not os.path.isdir(mirror):
            _git(["init", "--quiet", "--bare", mirror], repository)
        warnings: list[str] = []
        sha = _known_commit(mirror, ref) if _FULL_SHA.fullmatch(ref) else None
        if sha is None:
            error = _fetch(mirror, store.url_of(repository), repository)
            sha = _known_commit(mirror, ref)
            if error is not None:
                if sha is None:
                    raise FetchError(error)
                warnings.append(f"{error}; using the copy of {repository}@{ref} fetched before")
        if sha is None:
            raise FetchError(
                f"{repository} has no branch, tag or commit {ref!r} "
                f"(fetched from {store.url_of(repository)})"
            )
        tree = os.path.join(base, sha)
        if not os.path.isdir(tree):
            _write_tree(mirror, sha, tree, repository)
        return FetchedTree(tree, sha, warnings)


def _fetch(mirror: str, url: str, repository: str) -> str | None:
    """Fetch every branch and tag of ``url`` into ``mirror``; the reason if that failed."""
    try:
        _git(
            [
                "--git-dir",
                mirror,
                "fetch",
                "--quiet",
                "--force",
                "--prune",
                "--no-tags",
                url,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
            repository,
        )
    except FetchError as error:
        return str(error)
    return None


def _known_commit(mirror: str, ref: str) -> str | None:
    """The commit ``ref`` names in ``mirror`` (tag first, as GitHub), or None."""
    candidates = [f"refs/tags/{ref}", f"refs/heads/{ref}"]
    if _FULL_SHA.fullmatch(ref):
        candidates.append(ref)
    for candidate in candidates:
        found = subprocess.run(
            [
                "git",
                "--git-dir",
                mirror,
                "rev-parse",
                "--verify",
                "--quiet",
                f"{candidate}^{{commit}}",
            ],
            capture_output=True,
            text=True,
            env=_git_env(),
        )
        if found.returncode == 0:
            return found.stdout.strip()
    return None


def _write_tree(mirror: str, sha: str, tree: str, repository: str) -> None:
    """Write the files of ``sha`` to ``tree`` whole or not at all."""
    parent = os.path.dirname(tree)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".tree-", dir=parent)
    # Through an index of its own rather than git archive, which would leave out the
    # files a .gitattributes marks export-ignore.
    index = os.path.join(staging, ".conveyor-index")
    try:
        env = {**_git_env(), "GIT_INDEX_FILE": index}
        for args in (
            ["read-tree", sha],
            ["checkout-index", "--all", "--force", f"--prefix={staging}/"],
        ):
            done = subprocess.run(
                ["git", "--git-dir", mirror, "--work-tree", staging, *args],
                capture_output=True,
                text=True,
                env=env,
            )
            if done.returncode != 0:
                raise FetchError(f"could not write {repository}@{sha}: {done.stderr.strip()}")
        os.unlink(index)
        os.rename(staging, tree)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _git(args: list[str], repository: str) -> None:
    try:
        done = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            env=_git_env(),
            timeout=FETCH_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise FetchError(
            f"fetching {repository} took more than {FETCH_TIMEOUT_SECONDS} s"
        ) from None
    except OSError as error:
        raise FetchError(f"could not run git for {repository}: {error}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.strip().splitlines() if line.strip()]
        # git's first fatal line names the problem; the lines after it are advice.
        fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
        reason = (fatal or lines or [f"git exited with {done.returncode}"])[0]
        raise FetchError(f"could not fetch {repository}: {reason}")


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # a private repository fails instead of waiting
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    return env


@contextmanager
def _locked(path: str) -> Iterator[None]:
    """One fetch of a repository at a time, across the jobs and processes sharing a store."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
