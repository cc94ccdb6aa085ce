"""Push and pull-request payloads shaped like GitHub's, which Gitea and Forgejo send too."""

from __future__ import annotations

from conveyor.server.repos.forges.base import (
    ForgeEvent,
    Outcome,
    PayloadInvalid,
    before_or_none,
    branch_field,
    deletion,
    is_deletion,
    mapping_field,
    ref_field,
    sha_field,
    text_field,
)


def push_event(data: dict[str, object], delivery: str, actor: str) -> ForgeEvent:
    ref = ref_field(data, "ref")
    after = sha_field(data, "after", zero_allowed=True)
    before = sha_field(data, "before", zero_allowed=True, required=False)
    if data.get("deleted") is True or is_deletion(after):
        return deletion(ref, delivery)
    return ForgeEvent(
        Outcome.RUN,
        event="push",
        delivery_id=delivery,
        ref=ref,
        sha=after,
        before_sha=before_or_none(before),
        payload=data,
        actor=actor,
    )


def pull_request_event(
    data: dict[str, object], delivery: str, actor: str, actions: dict[str, str] | None = None
) -> ForgeEvent:
    """``actions`` renames a forge's activity types to GitHub's (Gitea's ``synchronized``)."""
    action = text_field(data, "action")
    pull = mapping_field(data, "pull_request")
    head = mapping_field(pull, "head", "pull_request")
    base = mapping_field(pull, "base", "pull_request")
    # Both reach the run's github.head_ref / github.base_ref, and base.ref picks the workflows.
    branch_field(head, "ref", "pull_request.head")
    branch_field(base, "ref", "pull_request.base")
    number = data.get("number", pull.get("number"))
    if not isinstance(number, int):
        raise PayloadInvalid("field 'number' must be the pull request's number")
    return ForgeEvent(
        Outcome.RUN,
        event="pull_request",
        delivery_id=delivery,
        ref=f"refs/pull/{number}/merge",
        sha=sha_field(head, "sha", "pull_request.head"),
        payload={**data, "action": (actions or {}).get(action, action)},
        actor=actor,
    )
