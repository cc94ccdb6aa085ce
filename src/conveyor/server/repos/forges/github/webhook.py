"""GitHub's webhook deliveries, as its documentation describes them.

The signature is ``sha256=`` and the hex HMAC-SHA256 of the raw body under the
hook's secret, in ``X-Hub-Signature-256``. ``push`` and ``pull_request`` start
runs, ``ping`` (sent when a hook is created) answers pong, the rest is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

from conveyor.server.repos.forges.base import (
    ForgeEvent,
    Outcome,
    PayloadInvalid,
    SignatureInvalid,
    SignatureMissing,
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

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise SignatureMissing(f"missing {SIGNATURE_HEADER} header")
    scheme, _, digest = given.partition("=")
    if scheme != "sha256" or not digest:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} must look like sha256=<hex digest>")
    check_hex_signature(digest, secret, body, SIGNATURE_HEADER)


def parse(headers: Mapping[str, str], body: bytes) -> ForgeEvent:
    event = header(headers, EVENT_HEADER)
    delivery = header(headers, DELIVERY_HEADER)
    if not event:
        raise PayloadInvalid(f"missing {EVENT_HEADER} header")
    data = load_json_object(body)
    if event == "ping":
        return ForgeEvent(Outcome.PING, event="ping", delivery_id=delivery)
    if event == "push":
        return _push(data, delivery)
    if event == "pull_request":
        return _pull_request(data, delivery)
    return ignored(f"GitHub event {event!r} starts no runs", delivery)


def _actor(data: Mapping[str, object]) -> str:
    sender = data.get("sender")
    if isinstance(sender, Mapping) and isinstance(sender.get("login"), str):
        return str(sender["login"])
    pusher = data.get("pusher")
    if isinstance(pusher, Mapping) and isinstance(pusher.get("name"), str):
        return str(pusher["name"])
    return ""


def _push(data: dict[str, object], delivery: str) -> ForgeEvent:
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
        payload={**data, "action": action},
        actor=_actor(data),
    )
