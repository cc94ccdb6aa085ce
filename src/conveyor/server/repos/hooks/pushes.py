"""Turning a ref update (from a hook, a webhook, the poller or the start-up catch-up) into runs.

Each trigger that learns of ``ref`` moving to ``after`` calls ``runs_for_ref_update``;
the ref's claim (``ref_state.claim``) makes sure one push is run once however many
of them notice it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from conveyor.server.repos import git, ref_state, refnames
from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Run

logger = logging.getLogger("conveyor.server.repos")


@dataclass
class PushResult:
    ref: str
    runs: list[Run] = field(default_factory=list)
    already_seen: bool = False  # another trigger claimed this change first
    deleted: bool = False


def is_zero(sha: str | None) -> bool:
    return not sha or refnames.is_zero(sha)


def push_payload(
    repository: Repository, ref: str, before: str | None, after: str
) -> dict[str, Any]:
    """A push event payload in GitHub's shape, for pushes that come without one."""
    return {
        "ref": ref,
        "before": before or git.ZERO_SHA,
        "after": after,
        "created": before is None,
        "deleted": False,
        "repository": {"name": repository.name, "full_name": f"local/{repository.name}"},
    }


def runs_for_ref_update(
    repository: Repository,
    *,
    ref: str,
    before: str | None,
    after: str | None,
    actor: str = "",
    payload: dict[str, Any] | None = None,
) -> PushResult:
    """Create the push runs for ``ref`` moving ``before`` -> ``after`` unless already done.

    ``after`` None (or zeros): the ref was deleted; nothing runs. The mirror is
    fetched first when it lacks ``after``, and an annotated tag is peeled to its
    commit. Raises ``git.GitError`` when the commit cannot be fetched (the claim
    is released so a later look tries again).
    """
    from conveyor.server.runs import workspace
    from conveyor.server.runs.services import checked_target, create_runs_for_event

    if is_zero(after):
        ref_state.forget(repository.id, ref)
        return PushResult(ref, deleted=True)
    assert after is not None
    ref, after, checked_before = checked_target(ref, after, before)
    before = None if is_zero(checked_before) else checked_before
    mirror = workspace.mirror_with_commit(repository, after)
    commit = git.resolve_commit(mirror, after) or after
    previous = ref_state.sha_of(repository.id, ref)
    if not ref_state.claim(repository.id, ref, commit):
        return PushResult(ref, already_seen=True)
    try:
        runs = create_runs_for_event(
            repository,
            event="push",
            ref=ref,
            sha=commit,
            before_sha=before,
            payload=payload
            if payload is not None
            else push_payload(repository, ref, before, after),
            actor=actor,
        )
    except Exception:
        ref_state.release(repository.id, ref, commit, previous)
        raise
    return PushResult(ref, runs=runs)
