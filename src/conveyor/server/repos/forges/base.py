"""What every forge's webhook parsing produces, and the checks they share."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from conveyor.server.repos import refnames

ZERO_SHA = "0" * 40


class SignatureInvalid(Exception):
    """The delivery is not signed with the repository's webhook secret: says how."""


class SignatureMissing(SignatureInvalid):
    """The delivery carries no signature (or token) at all."""


class PayloadInvalid(Exception):
    """The delivery's body is not what the forge documents: says what is wrong."""


class Outcome(Enum):
    RUN = "run"  # create runs for the event
    PING = "ping"  # the forge checks the hook works
    IGNORED = "ignored"  # an event (or action) that starts nothing


@dataclass(frozen=True)
class ForgeEvent:
    outcome: Outcome
    event: str = ""  # the workflow event name: push, pull_request, ...
    delivery_id: str = ""  # "" when the sender gives none (then no de-duplication)
    ref: str = ""
    sha: str = ""
    before_sha: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    note: str = ""  # why it is ignored, for the response

    @property
    def is_push(self) -> bool:
        return self.event == "push"

    @property
    def deletes_ref(self) -> bool:
        return self.is_push and self.outcome is Outcome.IGNORED and bool(self.ref)

    @property
    def from_fork(self) -> bool:
        return from_fork(self.event, self.payload)


# The events whose runs execute the code of a pull request's head; pull_request_target
# runs the base branch's code, so a fork's pull request changes nothing there.
HEAD_CODE_EVENTS = ("pull_request",)


def from_fork(event: str, payload: Mapping[str, Any]) -> bool:
    """Whether a run of ``event`` with ``payload`` would run code from a fork.

    The one place that decides it, for every forge: their payloads have GitHub's
    shape by the time they get here (GitLab's merge requests are converted, with
    the projects' ids as ``head.repo.id`` and ``base.repo.id``). The head
    repository is compared with the base repository by id (Gitea also sends
    ``repo_id``), else by full name; only when the payload names neither is
    ``head.repo.fork`` taken at its word (it is also true for a pull request
    between two branches of a repository that is itself a fork). A head
    repository that is gone (GitHub sends ``null`` once a fork is deleted) is a
    fork: a run that cannot tell gets no secrets.
    """
    if event not in HEAD_CODE_EVENTS:
        return False
    pull = payload.get("pull_request")
    if not isinstance(pull, Mapping):
        return False
    head = pull.get("head")
    base = pull.get("base")
    if not isinstance(head, Mapping):
        return False
    base = base if isinstance(base, Mapping) else {}
    if "repo" in head and head["repo"] is None:
        return True
    head_repo = head.get("repo") if isinstance(head.get("repo"), Mapping) else {}
    base_repo = base.get("repo") if isinstance(base.get("repo"), Mapping) else {}
    repository = payload.get("repository")
    if not base_repo and isinstance(repository, Mapping):
        base_repo = repository  # the repository the hook belongs to is the base
    for head_value, base_value in (
        (head_repo.get("id"), base_repo.get("id")),
        (head.get("repo_id"), base.get("repo_id")),
        (head_repo.get("full_name"), base_repo.get("full_name")),
    ):
        if _known(head_value) and _known(base_value):
            return str(head_value) != str(base_value)
    # Nothing to compare: the head's own word, and without one it cannot tell (no secrets).
    return head_repo.get("fork", True) is not False


def runs_fork_code(run: Any) -> bool:
    """Whether ``run`` (a Run) executes a fork's code: as recorded, or, for a run
    recorded before ``from_fork`` existed, as its event and payload say."""
    return bool(run.from_fork) or from_fork(run.event, run.payload)


def _known(value: object) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool) and value != ""


def ignored(note: str, delivery_id: str = "") -> ForgeEvent:
    return ForgeEvent(Outcome.IGNORED, delivery_id=delivery_id, note=note)


def deletion(ref: str, delivery_id: str = "") -> ForgeEvent:
    """A pushed deletion of ``ref``: it starts nothing, and the ref is no longer known."""
    return ForgeEvent(
        Outcome.IGNORED, event="push", delivery_id=delivery_id, ref=ref, note=f"{ref} was deleted"
    )


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value ("" if absent), whatever the case of its name."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.strip()
    return ""


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def check_hex_signature(given: str, secret: str, body: bytes, header_name: str) -> None:
    """Compare a hex HMAC-SHA256 in constant time; raise ``SignatureInvalid`` if it differs."""
    if not given:
        raise SignatureMissing(f"missing {header_name} header")
    expected = hmac_sha256_hex(secret, body)
    if not hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode()):
        raise SignatureInvalid(f"{header_name} does not match the body signed with the secret")


def check_sha256_header(
    headers: Mapping[str, str], header_name: str, body: bytes, secret: str
) -> None:
    """A ``sha256=<hex HMAC>`` header (GitHub's form, and ours for generic senders)."""
    given = header(headers, header_name)
    if not given:
        raise SignatureMissing(f"missing {header_name} header")
    scheme, _, digest = given.partition("=")
    if scheme != "sha256" or not digest:
        raise SignatureInvalid(f"{header_name} must look like sha256=<hex digest>")
    check_hex_signature(digest, secret, body, header_name)


def load_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise PayloadInvalid("the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise PayloadInvalid(
            f"the body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(data, dict):
        raise PayloadInvalid(f"the body must be a JSON object, not {type(data).__name__}")
    return data


def text_field(data: Mapping[str, Any], name: str, where: str = "") -> str:
    """A required string field; ``PayloadInvalid`` naming it when missing or of another type."""
    value = data.get(name)
    if not isinstance(value, str) or not value:
        place = f"{where}.{name}" if where else name
        found = "missing" if value is None else f"a {type(value).__name__}"
        raise PayloadInvalid(f"field {place!r} must be a non-empty string (it is {found})")
    return value


def optional_text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def mapping_field(data: Mapping[str, Any], name: str, where: str = "") -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, Mapping):
        place = f"{where}.{name}" if where else name
        raise PayloadInvalid(f"field {place!r} must be an object")
    return value


def ref_field(data: Mapping[str, Any], name: str, where: str = "") -> str:
    """A required full ref that git would accept (``git check-ref-format``)."""
    place = f"{where}.{name}" if where else name
    try:
        return refnames.check_ref(text_field(data, name, where), place)
    except refnames.NameInvalid as invalid:
        raise PayloadInvalid(str(invalid)) from None


def branch_field(data: Mapping[str, Any], name: str, where: str = "") -> str:
    """A required branch name (without ``refs/heads/``) that git would accept; returned as is."""
    place = f"{where}.{name}" if where else name
    branch = text_field(data, name, where)
    try:
        refnames.check_branch(branch, place)
    except refnames.NameInvalid as invalid:
        raise PayloadInvalid(str(invalid)) from None
    return branch


def sha_field(
    data: Mapping[str, Any],
    name: str,
    where: str = "",
    *,
    zero_allowed: bool = False,
    required: bool = True,
) -> str:
    """A commit sha, lower-cased; "" when absent and not ``required``.

    ``zero_allowed`` where git sends zeros: a created ref's old side, a deleted one's new.
    """
    place = f"{where}.{name}" if where else name
    if not required and data.get(name) in (None, ""):
        return ""
    try:
        return refnames.check_sha(text_field(data, name, where), place, zero_allowed=zero_allowed)
    except refnames.NameInvalid as invalid:
        raise PayloadInvalid(str(invalid)) from None


def before_or_none(sha: str) -> str | None:
    """A push's previous sha, or None for a new ref (the forges send zeros)."""
    return None if not sha or refnames.is_zero(sha) else sha


def is_deletion(after: str) -> bool:
    return refnames.is_zero(after)
