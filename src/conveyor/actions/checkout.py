"""``actions/checkout``: the workspace already is the checkout when running in place."""

from __future__ import annotations

from typing import Any

from conveyor.engine.events import Status
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step


def run_checkout(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    index = step.index if scope.depth == 0 else scope.log_index
    host.log_line(
        index,
        f"Running in place: {host.workspace} is already checked out, "
        f"so {step.uses} has nothing to do.",
    )
    return StepOutcome(Status.SUCCESS)
