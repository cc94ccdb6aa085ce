"""Gitea's (and Forgejo's) webhook deliveries, as their documentation describes them.

The signature is the bare hex HMAC-SHA256 of the raw body under the hook's
secret, in ``X-Gitea-Signature`` (Forgejo sends ``X-Forgejo-Signature`` as well;
when it is present it is the one checked). The payloads follow GitHub's shape;
Gitea names a pull request's new commits ``synchronized`` where GitHub says
``synchronize``.
"""

from __future__ import annotations

from collections.abc import Mapping

from conveyor.server.repos.forges.base import (
    ForgeEvent,
    Outcome,
    PayloadInvalid,
    before_or_none,
    check_hex_signature,
    deletion,
    header,
    ignored,
    is_deletion,
    load_json_object,
    mapping_field,
    optional_text,
    text_field,
)

_PREFIXES = ("X-Forgejo-", "X-Gitea-")
_ACTIONS = {"synchronized": "synchronize"}


def _first(headers: Mapping[str, str], suffix: str) -> tuple[str, str]:
    """``(header name, value)`` of the first of Forgejo's/Gitea's headers present."""
    for prefix in _PREFIXES:
        value = header(headers, prefix + suffix)
        if value:
            return prefix + suffix, value
    return _PREFIXES[-1] + suffix, ""


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    name, given = _first(headers, "Signature")
    check_hex_signature(given, secret, body, name)


def parse(headers: Mapping[str, str], body: bytes) -> ForgeEvent:
    event_header, event = _first(headers, "Event")
    _, delivery = _first(headers, "Delivery")
    if not event:
        raise PayloadInvalid(f"missing {event_header} header")
    data = load_json_object(body)
    if event == "push":
        return _push(data, delivery)
    if event == "pull_request":
        return _pull_request(data, delivery)
    return ignored(f"Gitea event {event!r} starts no runs", delivery)


def _actor(data: Mapping[str, object]) -> str:
    for key in ("sender", "pusher"):
        person = data.get(key)
        if isinstance(person, Mapping):
            for name in ("login", "username"):
                if isinstance(person.get(name), str) and person[name]:
                    return str(person[name])
    return ""


def _push(data: dict[str, object], delivery: str) -> ForgeEvent:
    ref = text_field(data, "ref")
    after = text_field(data, "after")
    if is_deletion(after):
        return deletion(ref, delivery)
    return ForgeEvent(
        Outcome.RUN,
        event="push",
        delivery_id=delivery,
        ref=ref,
        sha=after,
        before_sha=before_or_none(optional_text(data, "before")),
        payload=data,
        actor=_actor(data),
    )


def _pull_request(data: dict[str, object], delivery: str) -> ForgeEvent:
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
        payload={**data, "action": _ACTIONS.get(action, action)},
        actor=_actor(data),
    )
