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
    PayloadInvalid,
    check_hex_signature,
    header,
    ignored,
    load_json_object,
)
from conveyor.server.repos.forges.github_shape import pull_request_event, push_event

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
        return push_event(data, delivery, _actor(data))
    if event == "pull_request":
        return pull_request_event(data, delivery, _actor(data), _ACTIONS)
    return ignored(f"Gitea event {event!r} starts no runs", delivery)


def _actor(data: Mapping[str, object]) -> str:
    for key in ("sender", "pusher"):
        person = data.get(key)
        if isinstance(person, Mapping):
            for name in ("login", "username"):
                if isinstance(person.get(name), str) and person[name]:
                    return str(person[name])
    return ""
