"""The events a workflow may name under ``on:`` and what each accepts.

From GitHub's "Events that trigger workflows": events with activity types list
them (``None`` means the event takes no ``types``); ``repository_dispatch`` takes
any type names the sender chooses.
"""

from __future__ import annotations

_PULL_REQUEST_TYPES = (
    "assigned unassigned labeled unlabeled opened edited closed reopened synchronize "
    "converted_to_draft ready_for_review locked unlocked review_requested review_request_removed "
    "auto_merge_enabled auto_merge_disabled milestoned demilestoned enqueued dequeued"
)

ACTIVITY_TYPES: dict[str, frozenset[str] | None] = {
    name: (frozenset(types.split()) if types is not None else None)
    for name, types in {
        "branch_protection_rule": "created edited deleted",
        "check_run": "created rerequested completed requested_action",
        "check_suite": "completed",
        "create": None,
        "delete": None,
        "deployment": None,
        "deployment_status": None,
        "discussion": "created edited deleted transferred pinned unpinned labeled unlabeled "
        "locked unlocked category_changed answered unanswered",
        "discussion_comment": "created edited deleted",
        "fork": None,
        "gollum": None,
        "image_version": "created ready",
        "issue_comment": "created edited deleted",
        "issues": "opened edited deleted transferred pinned unpinned closed reopened assigned "
        "unassigned labeled unlabeled locked unlocked milestoned demilestoned typed untyped",
        "label": "created edited deleted",
        "merge_group": "checks_requested",
        "milestone": "created closed opened edited deleted",
        "page_build": None,
        "project": "created closed reopened edited deleted",
        "project_card": "created moved converted edited deleted",
        "project_column": "created updated moved deleted",
        "public": None,
        "pull_request": _PULL_REQUEST_TYPES,
        "pull_request_review": "submitted edited dismissed",
        "pull_request_review_comment": "created edited deleted",
        "pull_request_target": _PULL_REQUEST_TYPES,
        "push": None,
        "registry_package": "published updated",
        "release": "published unpublished created edited deleted prereleased released",
        "repository_dispatch": "",  # any type names: see ANY_TYPES
        "status": None,
        "watch": "started",
        "workflow_call": None,
        "workflow_dispatch": None,
        "workflow_run": "completed requested in_progress",
    }.items()
}

ANY_TYPES = frozenset({"repository_dispatch"})

# Filters each event accepts besides ``types``.
_REF_FILTERS = ("branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore")
FILTERS: dict[str, tuple[str, ...]] = {
    "push": _REF_FILTERS,
    "pull_request": ("branches", "branches-ignore", "paths", "paths-ignore"),
    "pull_request_target": ("branches", "branches-ignore", "paths", "paths-ignore"),
    "workflow_run": ("branches", "branches-ignore", "workflows"),
    "merge_group": ("branches", "branches-ignore"),
}

# Events whose value is not a filter mapping; parsed by their own code.
SPECIAL_EVENTS = frozenset({"schedule", "workflow_dispatch", "workflow_call"})

ALL_EVENTS = frozenset(ACTIVITY_TYPES) | SPECIAL_EVENTS

# Filter pairs GitHub refuses to see together on one event.
EXCLUSIVE_FILTERS = (
    ("branches", "branches-ignore"),
    ("tags", "tags-ignore"),
    ("paths", "paths-ignore"),
)

DISPATCH_INPUT_TYPES = ("string", "boolean", "number", "choice", "environment")
CALL_INPUT_TYPES = ("string", "boolean", "number")

PERMISSION_SCOPES: dict[str, tuple[str, ...]] = {
    "actions": ("read", "write", "none"),
    "attestations": ("read", "write", "none"),
    "checks": ("read", "write", "none"),
    "contents": ("read", "write", "none"),
    "deployments": ("read", "write", "none"),
    "discussions": ("read", "write", "none"),
    "id-token": ("write", "none"),
    "issues": ("read", "write", "none"),
    "models": ("read", "none"),
    "packages": ("read", "write", "none"),
    "pages": ("read", "write", "none"),
    "pull-requests": ("read", "write", "none"),
    "repository-projects": ("read", "write", "none"),
    "security-events": ("read", "write", "none"),
    "statuses": ("read", "write", "none"),
}
PERMISSION_SHORTHANDS = ("read-all", "write-all")
