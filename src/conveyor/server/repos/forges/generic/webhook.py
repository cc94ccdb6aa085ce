"""Conveyor's own webhook for any sender that can sign a JSON body (docs/webhooks.md).

``X-Conveyor-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` under the
repository's webhook secret; the body is ``{"event": "push", "ref": ..., "sha":
..., "before": ..., "delivery": ...}``, optionally with ``inputs`` (for
``workflow_dispatch``) and ``payload`` (the ``github.event`` context). The local
``post-receive`` hook signs its notifications the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

from conveyor.server.repos.forges.base import (
    ForgeEvent,
    Outcome,
    PayloadInvalid,
    before_or_none,
    check_sha256_header,
    deletion,
    hmac_sha256_hex,
    ignored,
    is_deletion,
    load_json_object,
    optional_text,
    ref_field,
    sha_field,
    text_field,
)
from conveyor.workflow.schema_events import ALL_EVENTS

SIGNATURE_HEADER = "X-Conveyor-Signature"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Conveyor-Signature`` value for ``body``."""
    return "sha256=" + hmac_sha256_hex(secret, body)


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    check_sha256_header(headers, SIGNATURE_HEADER, body, secret)


def parse(headers: Mapping[str, str], body: bytes) -> ForgeEvent:
    data = load_json_object(body)
    event = text_field(data, "event")
    delivery = data.get("delivery", "")
    if not isinstance(delivery, str):
        raise PayloadInvalid("field 'delivery' must be a string")
    if event not in ALL_EVENTS:
        return ignored(f"unknown event {event!r}", delivery)
    ref = ref_field(data, "ref")
    sha = sha_field(data, "sha", zero_allowed=True)
    before = sha_field(data, "before", zero_allowed=True, required=False)
    if is_deletion(sha):
        return deletion(ref, delivery)
    inputs = data.get("inputs", {})
    payload = data.get("payload", {})
    if not isinstance(inputs, dict):
        raise PayloadInvalid("field 'inputs' must be an object")
    if not isinstance(payload, dict):
        raise PayloadInvalid("field 'payload' must be an object")
    return ForgeEvent(
        Outcome.RUN,
        event=event,
        delivery_id=delivery,
        ref=ref,
        sha=sha,
        before_sha=before_or_none(before),
        payload=payload,
        inputs=inputs,
        actor=optional_text(data, "actor"),
    )
