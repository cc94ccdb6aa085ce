"""Entry points of built-in actions whose code is imported when a step first uses them,
so that ``conveyor run`` does not pay for them at start-up (it is measured)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.engine.options import RunOptions
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


def run_artifacts_dir(options: RunOptions) -> str:
    """Where the run ``options`` describe keeps its artifacts: ``options.artifacts_dir``
    (the server's), else ``<store>/runs/<run_id>/artifacts``."""
    if options.artifacts_dir:
        return options.artifacts_dir
    from conveyor.engine.options import default_store_dir

    return os.path.join(
        options.store_dir or default_store_dir(), "runs", options.run_id, "artifacts"
    )
