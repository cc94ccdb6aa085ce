"""Push and pull-request payloads shaped like GitHub's, which Gitea and Forgejo send too."""

from __future__ import annotations

from conveyor.server.repos.forges.base import (
    ForgeEvent,
    Outcome,
    PayloadInvalid,
    before_or_none,
    deletion,
    is_deletion,
    mapping_field,
    optional_text,
    text_field,
)


def push_event(data: dict[str, object], delivery: str, actor: str) -> ForgeEvent:
    ref = text_field(data, "ref")
    after = text_field(data, "after")
    if data.get("deleted") is True or is_deletion(after):
        return deletion(ref, delivery)
    return ForgeEvent(
        Outcome.RUN,
        event="push",
        delivery_id=delivery,
        ref=ref,
        sha=after,
        before_sha=before_or_none(optional_text(data, "before")),
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
    mapping_field(pull, "base", "pull_request")
    number = data.get("number", pull.get("number"))
    if not isinstance(number, int):
        raise PayloadInvalid("field 'number' must be the pull request's number")
    return ForgeEvent(
        Outcome.RUN,
        event="pull_request",
        delivery_id=delivery,
        ref=f"refs/pull/{number}/merge",
        sha=text_field(head, "sha", "pull_request.head"),
        payload={**data, "action": (actions or {}).get(action, action)},
        actor=actor,
    )
