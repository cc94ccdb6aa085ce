"""Built-in actions: ``uses:`` steps that Conveyor implements natively.

``run_action`` picks the implementation for a ``uses:`` reference: a built-in
registered in ``BUILT_IN`` by its ``owner/name`` (lower case, without ``@ref``);
else what ``actions/resolve.py`` finds: a local action (``./path``) or one fetched
from its repository, run by its kind (composite, JavaScript); a Docker action
fails its step saying what it needs.
"""

from __future__ import annotations

import os
import re
from typing import Any

from conveyor.actions import lazy_steps
from conveyor.actions.action_steps import fail, log_index
from conveyor.actions.cache import run_cache
from conveyor.actions.checkout import run_checkout
from conveyor.actions.composite import run_composite_action
from conveyor.actions.resolve import (
    COMPOSITE,
    DOCKER,
    JAVASCRIPT,
    Resolved,
    ResolveError,
    action_store,
    built_in_name,
    is_local,
    resolve_in_run,
)
from conveyor.engine.options import default_store_dir
from conveyor.engine.step_types import ActionHandler, ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

BUILT_IN: dict[str, ActionHandler] = {
    "actions/checkout": run_checkout,
    "actions/upload-artifact": lazy_steps.run_upload_artifact,
    "actions/download-artifact": lazy_steps.run_download_artifact,
    "actions/github-script": lazy_steps.run_github_script,
    "actions/setup-node": lazy_steps.run_setup_node,
    "actions/setup-python": lazy_steps.run_setup_python,
    "astral-sh/setup-uv": lazy_steps.run_setup_uv,
    "actions/cache": run_cache,
    "conveyor/deploy-django": lazy_steps.run_deploy_django,
}

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def action_name(uses: str) -> str:
    """``owner/name`` of ``owner/name/path@ref``, lower case."""
    return built_in_name(uses)


def run_action(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    uses = (step.uses or "").strip()
    if not is_local(uses) and not uses.startswith("docker://"):
        handler = BUILT_IN.get(action_name(uses))
        if handler is not None:
            return handler(host, step, scope, contexts, step_env)
    return run_resolved(host, step, scope, contexts, step_env)


def run_resolved(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    """A local, fetched or Docker action: found (fetched if need be), then run by its kind."""
    uses = (step.uses or "").strip()
    index = log_index(step, scope)
    options = host.options
    store = action_store(options.store_dir or default_store_dir(), options.actions_url)
    try:
        resolved = resolve_in_run(options.run_id, uses, host.workspace, store)
    except ResolveError as error:
        return _unavailable(host, scope, step, f"{uses}: {error}")
    for warning in resolved.warnings:
        host.warn(index, warning)
    if resolved.kind == DOCKER:
        from conveyor.actions.docker import docker_action_problem

        return _unavailable(host, scope, step, f"{uses}: {docker_action_problem(uses)}")
    try:
        action_path = _seen_by_the_job(host, resolved)
    except OSError as error:
        return _unavailable(
            host, scope, step, f"{uses}: cannot copy the action into the job: {error}"
        )
    assert resolved.action is not None
    if resolved.kind == COMPOSITE:
        return run_composite_action(
            host, step, scope, contexts, step_env, resolved.action, action_path
        )
    assert resolved.kind == JAVASCRIPT
    from conveyor.actions.javascript import run_javascript

    return run_javascript(host, step, scope, contexts, step_env, resolved, action_path)


def _seen_by_the_job(host: ActionHost, resolved: Resolved) -> str:
    """Where the job's steps find the action's files: a local action where it is; a
    fetched one copied into the job's runner directory (the store stays unseen)."""
    if not resolved.tree:
        return resolved.directory
    from conveyor.actions.job_copy import copy_into_job

    owner, name = resolved.repository.lower().split("/", 1)
    folder = resolved.ref if _PLAIN_NAME.fullmatch(resolved.ref) else resolved.sha
    runner_dir = os.path.dirname(host.runner_temp)
    copy = copy_into_job(resolved.tree, runner_dir, ["_actions", owner, name, folder])
    return os.path.join(copy, resolved.path) if resolved.path else copy


def _unavailable(host: ActionHost, scope: StepScope, step: Step, message: str) -> StepOutcome:
    where = step.positions.get("uses", step.position)
    return fail(host, step, scope, f"{where}: {message}")
