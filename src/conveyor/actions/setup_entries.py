"""Entries of the setup built-ins for ``BUILT_IN``, each loading its module when first used.

``conveyor run`` imports the built-in registry at start-up; the setup actions'
modules (and what they import: subprocess, hashlib, tomllib, ...) are loaded only
by a workflow that uses them.
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
