"""GitLab's webhook deliveries, as its documentation describes them.

GitLab does not sign the body: it sends the hook's secret token itself in
``X-Gitlab-Token``, compared here in constant time (use HTTPS). A retried
delivery keeps its ``Idempotency-Key`` (GitLab 17.4 and later); older versions
send only ``X-Gitlab-Event-UUID``. Merge request events become ``pull_request``
runs with a payload in GitHub's shape, so ``on.pull_request`` filters, the
``github.event.pull_request`` context and the fork rules (``forges.base.from_fork``)
work the same for both.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from conveyor.server.repos.forges.base import (
    ForgeEvent,
    Outcome,
    PayloadInvalid,
    SignatureInvalid,
    SignatureMissing,
    before_or_none,
    branch_field,
    deletion,
    header,
    ignored,
    is_deletion,
    load_json_object,
    mapping_field,
    optional_text,
    ref_field,
    sha_field,
)

TOKEN_HEADER = "X-Gitlab-Token"
EVENT_HEADER = "X-Gitlab-Event"
PUSH_EVENTS = ("Push Hook", "Tag Push Hook")
MERGE_REQUEST_EVENT = "Merge Request Hook"

# GitLab's merge request actions in GitHub's words; "update" is "synchronize"
# only when it brought new commits (then the payload has ``oldrev``).
_ACTIONS = {"open": "opened", "reopen": "reopened", "close": "closed", "merge": "closed"}


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    given = header(headers, TOKEN_HEADER)
    if not given:
        raise SignatureMissing(f"missing {TOKEN_HEADER} header")
    if not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
        raise SignatureInvalid(f"{TOKEN_HEADER} is not the repository's webhook secret")


def delivery_id(headers: Mapping[str, str]) -> str:
    return header(headers, "Idempotency-Key") or header(headers, "X-Gitlab-Event-UUID")


def parse(headers: Mapping[str, str], body: bytes) -> ForgeEvent:
    event = header(headers, EVENT_HEADER)
    delivery = delivery_id(headers)
    if not event:
        raise PayloadInvalid(f"missing {EVENT_HEADER} header")
    data = load_json_object(body)
    if event in PUSH_EVENTS:
        return _push(data, delivery)
    if event == MERGE_REQUEST_EVENT:
        return _merge_request(data, delivery)
    return ignored(f"GitLab event {event!r} starts no runs", delivery)


def _push(data: dict[str, Any], delivery: str) -> ForgeEvent:
    ref = ref_field(data, "ref")
    after = sha_field(data, "after", zero_allowed=True)
    before = sha_field(data, "before", zero_allowed=True, required=False)
    if is_deletion(after):
        return deletion(ref, delivery)
    # For an annotated tag ``after`` is the tag object; ``checkout_sha`` is its commit.
    sha = sha_field(data, "checkout_sha", required=False) or after
    return ForgeEvent(
        Outcome.RUN,
        event="push",
        delivery_id=delivery,
        ref=ref,
        sha=sha,
        before_sha=before_or_none(before),
        payload=data,
        actor=optional_text(data, "user_username") or optional_text(data, "user_name"),
    )


def _merge_request(data: dict[str, Any], delivery: str) -> ForgeEvent:
    attributes = mapping_field(data, "object_attributes")
    gitlab_action = optional_text(attributes, "action")
    if gitlab_action == "update":
        action = "synchronize" if attributes.get("oldrev") else "edited"
    else:
        action = _ACTIONS.get(gitlab_action, "")
    if not action:
        return ignored(f"merge request action {gitlab_action!r} starts no runs", delivery)
    number = attributes.get("iid")
    if not isinstance(number, int):
        raise PayloadInvalid("field 'object_attributes.iid' must be the merge request's number")
    last_commit = mapping_field(attributes, "last_commit", "object_attributes")
    sha = sha_field(last_commit, "id", "object_attributes.last_commit")
    source = branch_field(attributes, "source_branch", "object_attributes")
    target = branch_field(attributes, "target_branch", "object_attributes")
    user = data.get("user")
    actor = str(user.get("username", "")) if isinstance(user, Mapping) else ""
    payload = {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "title": optional_text(attributes, "title"),
            "html_url": optional_text(attributes, "url"),
            "merged": gitlab_action == "merge",
            "head": {"ref": source, "sha": sha, "repo": _project(attributes, "source")},
            "base": {"ref": target, "repo": _project(attributes, "target")},
        },
        "gitlab": data,
    }
    return ForgeEvent(
        Outcome.RUN,
        event="pull_request",
        delivery_id=delivery,
        ref=f"refs/merge-requests/{number}/head",
        sha=sha,
        payload=payload,
        actor=actor,
    )


def _project(attributes: Mapping[str, Any], side: str) -> dict[str, Any]:
    """The source or target project in GitHub's ``repo`` shape: a merge request from
    a fork has a ``source_project_id`` other than its ``target_project_id``."""
    project: dict[str, Any] = {}
    project_id = attributes.get(f"{side}_project_id")
    if isinstance(project_id, int) and not isinstance(project_id, bool):
        project["id"] = project_id
    details = attributes.get(side)
    if isinstance(details, Mapping) and isinstance(details.get("path_with_namespace"), str):
        project["full_name"] = details["path_with_namespace"]
    return project
