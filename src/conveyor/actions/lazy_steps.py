"""Entries of built-in actions for ``BUILT_IN``, each loading its module when first used.

``conveyor run`` pays only for what a workflow uses (its start-up is measured): the
setup actions, the artifacts and the deploy bring subprocess, hashlib, tomllib, ... with
them, and are imported by the first step that runs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from conveyor.engine.step_types import ActionHandler, ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step


def _entry(module: str, function: str) -> ActionHandler:
    def handler(
        host: ActionHost,
        step: Step,
        scope: StepScope,
        contexts: dict[str, Any],
        step_env: dict[str, str],
    ) -> StepOutcome:
        run = getattr(import_module(f"conveyor.actions.{module}"), function)
        return run(host, step, scope, contexts, step_env)

    handler.__name__ = function
    return handler


run_github_script = _entry("github_script", "run_github_script")
run_setup_node = _entry("setup_node", "run_setup_node")
run_setup_python = _entry("setup_python", "run_setup_python")
run_setup_uv = _entry("setup_uv", "run_setup_uv")
run_upload_artifact = _entry("artifacts", "run_upload_artifact")
run_download_artifact = _entry("artifacts", "run_download_artifact")
run_deploy_django = _entry("deploy_django", "run_deploy_django")
