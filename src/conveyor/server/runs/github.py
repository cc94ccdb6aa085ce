"""What the engine's ``github`` context says about a stored run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from conveyor.engine.git_info import GitInfo, parse_remote_url
from conveyor.engine.options import RunOptions
from conveyor.server.repos.models import Repository

_PREFIXES = (("refs/heads/", "branch"), ("refs/tags/", "tag"))


def git_info(
    repository: Repository, ref: str, sha: str, actor: str, payload: dict[str, Any]
) -> GitInfo:
    ref_name, ref_type = ref, ""
    for prefix, kind in _PREFIXES:
        if ref.startswith(prefix):
            ref_name, ref_type = ref[len(prefix) :], kind
    owner, full_name = "local", f"local/{repository.name}"
    server_url = settings.CONVEYOR_URL
    if not repository.is_local:
        parsed = parse_remote_url(repository.url)
        if parsed:
            server_url, full_name = parsed
            owner = full_name.split("/", 1)[0]
    pull_request = payload.get("pull_request") if isinstance(payload, dict) else None
    head_ref = base_ref = ""
    if isinstance(pull_request, dict):
        head_ref = str((pull_request.get("head") or {}).get("ref", ""))
        base_ref = str((pull_request.get("base") or {}).get("ref", ""))
    return GitInfo(
        sha=sha,
        ref=ref,
        ref_name=ref_name,
        ref_type=ref_type or "branch",
        repository=full_name,
        repository_owner=owner,
        actor=actor or "conveyor",
        server_url=server_url,
        head_ref=head_ref,
        base_ref=base_ref,
        repository_url=repository.url,
    )


def options_for_contexts(
    workspace: str,
    event: str,
    payload: dict[str, Any],
    inputs: dict[str, Any],
    git: GitInfo,
    number: int,
    run_id: int | None,
) -> RunOptions:
    return RunOptions(
        workspace=workspace,
        event_name=event,
        event_payload=payload,
        git=git,
        inputs=inputs,
        run_id=str(run_id or 0),
        run_number=number,
        actor=git.actor,
        base_env={},
        # Fetched actions are kept in the data directory, which jobs never see: each
        # job gets a copy of the actions it uses (actions/job_copy.py).
        store_dir=str(store_dir()),
        actions_url=settings.CONVEYOR_ACTIONS_URL,
    )


def store_dir() -> Path:
    """``<data>/store``: what runs keep between them (fetched actions, ...)."""
    return Path(settings.DATA_DIR) / "store"
