"""What every action handler needs around its step: its log, its failure, its env."""

from __future__ import annotations

from conveyor.engine.events import Status
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step


class ActionFailed(Exception):
    """The action cannot do what its inputs ask; the message says what and why."""


def log_index(step: Step, scope: StepScope) -> int:
    """The job step whose log a (possibly nested) action step writes to."""
    return step.index if scope.depth == 0 else scope.log_index


def at_uses(step: Step, message: str) -> str:
    """``message`` said where the step's ``uses:`` is in the workflow, naming the action."""
    return f"{step.positions.get('uses', step.position)}: {step.uses}: {message}"


def fail(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    reason: str,
    outputs: dict[str, str] | None = None,
) -> StepOutcome:
    """The step fails with ``reason``, which its log shows as an error (secrets masked)."""
    reason = host.masker.mask(reason)
    host.log_line(log_index(step, scope), f"##[error]{reason}")
    return StepOutcome(Status.FAILURE, reason=reason, outputs=outputs or {})


def job_env(host: ActionHost, scope: StepScope, step_env: dict[str, str]) -> dict[str, str]:
    """The environment the workflow gives the step's processes (job, then step ``env:``)."""
    return {**host.env_context(scope), **step_env}
