"""Entry points of built-in actions whose code is imported when a step first uses them,
so that ``conveyor run`` does not pay for them at start-up (it is measured)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
    from conveyor.workflow.model import Step


def run_upload_artifact(
    host: ActionHost, step: Step, scope: StepScope, contexts: dict[str, Any], env: dict[str, str]
) -> StepOutcome:
    from conveyor.actions.artifacts import run_upload_artifact as upload

    return upload(host, step, scope, contexts, env)


def run_download_artifact(
    host: ActionHost, step: Step, scope: StepScope, contexts: dict[str, Any], env: dict[str, str]
) -> StepOutcome:
    from conveyor.actions.artifacts import run_download_artifact as download

    return download(host, step, scope, contexts, env)


def run_deploy_django(
    host: ActionHost, step: Step, scope: StepScope, contexts: dict[str, Any], env: dict[str, str]
) -> StepOutcome:
    from conveyor.actions.deploy_django import run_deploy_django as deploy

    return deploy(host, step, scope, contexts, env)
