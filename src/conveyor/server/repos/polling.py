"""Polling: remotes that cannot send webhooks, and catching up with pushes made while down.

A thread in the server process (``start_polling()``; ``Poller.stop()``) looks at
each repository's branch and tag heads — ``git for-each-ref`` on a local bare
repository, ``git ls-remote`` on a remote URL — compares them with the last ones
the server saw (``ref_state``) and creates push runs for what changed. At start
it looks at every local repository at once (the pushes whose hook found the
server down) and at every polled one; afterwards each repository with a
``poll_interval`` every that many seconds, and local ones also every
``LOCAL_RECHECK_SECONDS`` as a safety net for a hook that could not report.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

from conveyor.server.background import Background
from conveyor.server.repos import git, ref_state, refnames
from conveyor.server.repos.hooks.pushes import PushResult, runs_for_ref_update
from conveyor.server.repos.models import Repository

logger = logging.getLogger("conveyor.server.repos")

LOCAL_RECHECK_SECONDS = 60.0
LS_REMOTE_TIMEOUT = 60  # seconds


def remote_refs(url: str) -> dict[str, str]:
    """``{ref: commit}`` of a remote's branches and tags (annotated tags peeled)."""
    try:
        completed = subprocess.run(
            ["git", "ls-remote", "--heads", "--tags", url],
            capture_output=True,
            timeout=LS_REMOTE_TIMEOUT,
            check=False,
            # Never stop to ask for a password on a terminal the server does not have.
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except FileNotFoundError:
        raise git.GitError("git is not installed (no 'git' on PATH)") from None
    except subprocess.TimeoutExpired:
        raise git.GitError(f"git ls-remote {url} took longer than {LS_REMOTE_TIMEOUT} s") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip() or "no message"
        raise git.GitError(f"git ls-remote {url} failed: {message}")
    refs: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in completed.stdout.decode("utf-8", "replace").splitlines():
        sha, _, ref = line.partition("\t")
        if ref.endswith("^{}"):
            peeled[ref[:-3]] = sha
        elif ref:
            refs[ref] = sha
    refs.update((ref, sha) for ref, sha in peeled.items() if ref in refs)
    return refs


def current_refs(repository: Repository) -> dict[str, str]:
    """The repository's branch and tag heads as they are now (those git would accept)."""
    if repository.is_local:
        path = Path(repository.url).expanduser()
        if not path.is_dir():
            raise git.GitError(f"{repository.url} does not exist")
        return usable_refs(repository.name, git.list_refs(path))
    return usable_refs(repository.name, remote_refs(repository.url))


def usable_refs(name: str, refs: dict[str, str]) -> dict[str, str]:
    """``refs`` without the entries whose name or sha git would refuse, each logged.

    A remote answering ``ls-remote`` is not trusted to send well-formed names; one bad
    entry is left out so the others are still looked at.
    """
    usable: dict[str, str] = {}
    for ref, sha in refs.items():
        try:
            usable[refnames.check_ref(ref)] = refnames.check_sha(sha)
        except refnames.NameInvalid as invalid:
            logger.warning("%s: ignoring a ref the remote lists: %s", name, invalid)
    return usable


def catch_up(repository: Repository) -> list[PushResult]:
    """Create push runs for every ref that moved since the server last looked.

    The first look at a repository only takes its refs as seen: its history is not new.
    """
    current = current_refs(repository)
    if not ref_state.has_baseline(repository.id):
        ref_state.record_all(repository.id, current)
        return []
    results = []
    for change in ref_state.changes(repository.id, current):
        results.append(
            runs_for_ref_update(
                repository,
                ref=change.ref,
                before=change.before,
                after=change.after,
                actor="conveyor (poll)",
            )
        )
    return results


def interval_of(repository: Repository) -> float | None:
    """Seconds between looks at ``repository``; None: it is never looked at by the poller."""
    if repository.poll_interval:
        return float(repository.poll_interval)
    if repository.is_local:
        return LOCAL_RECHECK_SECONDS
    return None


class Poller(Background):
    """The polling thread; ``start()`` looks at every repository at once, then on schedule."""

    thread_name = "conveyor-poller"

    def __init__(self) -> None:
        super().__init__()
        self._due: dict[int, float] = {}

    def one_pass(self) -> float:
        return self.poll_due()

    def poll_due(self) -> float:
        """Look at the repositories whose time has come; returns seconds until the next one."""
        now = time.monotonic()
        next_due = now + LOCAL_RECHECK_SECONDS
        for repository in Repository.objects.all():
            interval = interval_of(repository)
            if interval is None:
                continue
            due = self._due.get(repository.id, now)  # a repository not seen yet: now
            if due <= now:
                self._look(repository)
                due = time.monotonic() + interval
                self._due[repository.id] = due
            next_due = min(next_due, due)
            if self._stopping.is_set():
                break
        return max(0.05, next_due - time.monotonic())

    def _look(self, repository: Repository) -> None:
        try:
            for result in catch_up(repository):
                for run in result.runs:
                    logger.info(
                        "%s: %s moved; run #%s queued", repository.name, result.ref, run.number
                    )
        except git.GitError as error:
            logger.warning("%s: cannot look at the refs: %s", repository.name, error)
        except Exception:
            # One repository's trouble must not stop the polling of the others.
            logger.exception("%s: polling failed", repository.name)


def start_polling() -> Poller:
    """Start the polling thread of the server process (``conveyor server`` calls this)."""
    poller = Poller()
    poller.start()
    return poller
