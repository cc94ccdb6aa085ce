"""Finding, loading and choosing the workflows a command works on."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from conveyor.cli import UsageError
from conveyor.commands import plural
from conveyor.engine.git_info import GitInfo, GitReading
from conveyor.engine.options import default_store_dir
from conveyor.records import field, record
from conveyor.workflow.discovery import NoWorkflow, discover, display_path, find_repository_root
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import check_local_actions, check_local_calls, load_workflow
from conveyor.workflow.model import Workflow
from conveyor.workflow.triggers import EventInfo, accepts, describe_rejection


@record
class Selection:
    root: str
    git: GitInfo
    event: EventInfo
    payload: dict[str, Any]
    chosen: list[Workflow]
    # Workflows from .github/workflows that do not run on this event, with why.
    passed_over: list[tuple[Workflow, str]]
    # Files that cannot run; as on GitHub each file stands alone, so the others still do.
    invalid: dict[str, WorkflowInvalid] = field(default_factory=dict)


def load_all(paths: list[str], root: str) -> tuple[list[Workflow], dict[str, WorkflowInvalid]]:
    """The valid workflows, and each invalid file (by its shown path) with its problems."""
    workflows: list[Workflow] = []
    invalid: dict[str, WorkflowInvalid] = {}
    cache_dir = workflow_cache_dir()
    for path in paths:
        shown = display_path(path, root)
        try:
            workflow = load_workflow(path, shown, cache_dir)
        except WorkflowInvalid as error:
            invalid[shown] = error
            continue
        missing = check_local_actions(workflow, root) + check_local_calls(workflow, root)
        if missing:
            invalid[shown] = WorkflowInvalid(missing)
            continue
        workflows.append(workflow)
    return workflows, invalid


def workflow_cache_dir() -> str:
    """Where parsed workflows are kept between runs (``workflow/cache.py``)."""
    return os.path.join(default_store_dir(), "workflows")


def report_invalid(invalid: dict[str, WorkflowInvalid]) -> None:
    """Each problem as file:line:column on stderr, then how many files were left out."""
    for error in invalid.values():
        print(str(error), file=sys.stderr)
    if invalid:
        count = sum(len(error.problems) for error in invalid.values())
        files = ", ".join(invalid)
        print(f"conveyor: {plural(count, 'problem')} found; not run: {files}", file=sys.stderr)


def read_payload(eventpath: str | None) -> dict[str, Any]:
    if not eventpath:
        return {}
    try:
        with open(eventpath, encoding="utf-8") as handle:
            payload = json.load(handle)
    except OSError as error:
        raise UsageError(f"--eventpath {eventpath}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"--eventpath {eventpath}: not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise UsageError(f"--eventpath {eventpath}: the payload must be a JSON object")
    return payload


def event_info(name: str, git: GitInfo, payload: dict[str, Any]) -> EventInfo:
    ref = payload.get("ref") if isinstance(payload.get("ref"), str) else git.ref
    if name.startswith("pull_request"):
        base = (payload.get("pull_request") or {}).get("base", {}).get("ref")
        ref = f"refs/heads/{base}" if base else git.ref
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    return EventInfo(name=name, ref=ref, changed_paths=None, action=action)


def select(
    explicit: list[str] | None,
    event_name: str,
    eventpath: str | None = None,
    git_reading: GitReading | None = None,
) -> Selection:
    """``git_reading``: git already asked about the repository (else it is asked here,
    the tree's dirtiness left out)."""
    root = find_repository_root(os.getcwd())
    if git_reading is None:
        git_reading = GitReading(root, with_dirty=False)
    try:
        paths, from_workflows_dir = discover(root, explicit)
    except NoWorkflow as error:
        raise UsageError(str(error)) from None
    workflows, invalid = load_all(paths, root)
    with git_reading:
        git = git_reading.result()
    payload = read_payload(eventpath)
    event = event_info(event_name, git, payload)
    chosen: list[Workflow] = []
    passed_over: list[tuple[Workflow, str]] = []
    for workflow in workflows:
        if not from_workflows_dir or accepts(workflow.on, event):
            chosen.append(workflow)
        else:
            why = describe_rejection(workflow.on, event) or f"does not run on {event_name}"
            passed_over.append((workflow, why))
    return Selection(root, git, event, payload, chosen, passed_over, invalid)
