"""Finding, loading and choosing the workflows a command works on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor.cli import UsageError
from conveyor.engine.git_info import GitInfo, read_git_info
from conveyor.workflow.discovery import NoWorkflow, discover, display_path, find_repository_root
from conveyor.workflow.errors import Problem, WorkflowInvalid
from conveyor.workflow.load import load_workflow
from conveyor.workflow.model import Workflow
from conveyor.workflow.triggers import EventInfo, accepts, describe_rejection


@dataclass
class Selection:
    root: Path
    git: GitInfo
    event: EventInfo
    payload: dict[str, Any]
    chosen: list[Workflow]
    # Workflows from .github/workflows that do not run on this event, with why.
    passed_over: list[tuple[Workflow, str]]


def load_all(paths: list[Path], root: Path) -> list[Workflow]:
    """Every workflow, or WorkflowInvalid with the problems of all the files at once."""
    workflows: list[Workflow] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            workflows.append(load_workflow(path, display_path(path, root)))
        except WorkflowInvalid as invalid:
            problems.extend(invalid.problems)
    if problems:
        raise WorkflowInvalid(problems)
    return workflows


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


def select(explicit: list[str] | None, event_name: str, eventpath: str | None = None) -> Selection:
    root = find_repository_root(Path.cwd())
    try:
        paths, from_workflows_dir = discover(root, explicit)
    except NoWorkflow as error:
        raise UsageError(str(error)) from None
    workflows = load_all(paths, root)
    git = read_git_info(str(root))
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
    return Selection(root, git, event, payload, chosen, passed_over)
