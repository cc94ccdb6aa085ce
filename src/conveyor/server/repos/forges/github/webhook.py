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
    check_sha256_header,
    header,
    ignored,
    load_json_object,
)
from conveyor.server.repos.forges.github_shape import pull_request_event, push_event

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    check_sha256_header(headers, SIGNATURE_HEADER, body, secret)


def parse(headers: Mapping[str, str], body: bytes) -> ForgeEvent:
    event = header(headers, EVENT_HEADER)
    delivery = header(headers, DELIVERY_HEADER)
    if not event:
        raise PayloadInvalid(f"missing {EVENT_HEADER} header")
    data = load_json_object(body)
    if event == "ping":
        return ForgeEvent(Outcome.PING, event="ping", delivery_id=delivery)
    if event == "push":
        return push_event(data, delivery, _actor(data))
    if event == "pull_request":
        return pull_request_event(data, delivery, _actor(data))
    return ignored(f"GitHub event {event!r} starts no runs", delivery)


def _actor(data: Mapping[str, object]) -> str:
    sender = data.get("sender")
    if isinstance(sender, Mapping) and isinstance(sender.get("login"), str):
        return str(sender["login"])
    pusher = data.get("pusher")
    if isinstance(pusher, Mapping) and isinstance(pusher.get("name"), str):
        return str(pusher["name"])
    return ""
