"""Composite actions (local or fetched): their steps run as sub-steps of the ``uses`` step.

Their output belongs to the ``uses`` step's log; their ``if``, ``env`` and
``shell`` apply; ``inputs`` comes from ``with`` and the declared defaults; the
action's ``outputs`` become the step's outputs. Paths in a nested ``uses: ./path``
are relative to the workspace, as on GitHub, also inside a fetched action, and must
stay inside it (symlinks followed).
"""

from __future__ import annotations

from typing import Any

from conveyor.actions.action_steps import fail, log_index
from conveyor.actions.inputs import action_inputs
from conveyor.actions.resolve import ResolveError, resolve_local
from conveyor.engine import evaluation
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.events import Status
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import CompositeAction, Step

MAX_DEPTH = 10


def run_composite(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    """A local composite action (``uses: ./path``)."""
    where = step.positions.get("uses", step.position)
    uses = (step.uses or "").strip()
    try:
        resolved = resolve_local(uses, host.workspace)
    except ResolveError as error:
        return fail(host, step, scope, f"{where}: {uses}: {error}")
    assert resolved.action is not None
    return run_composite_action(
        host, step, scope, contexts, step_env, resolved.action, resolved.directory
    )


def run_composite_action(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
    action: CompositeAction,
    action_path: str,
) -> StepOutcome:
    """Run the steps of ``action`` (read already) as sub-steps; ``action_path`` is
    ``github.action_path``: where the job's steps find the action's files."""
    index = log_index(step, scope)
    where = step.positions.get("uses", step.position)
    uses = (step.uses or "").strip()
    if scope.depth >= MAX_DEPTH:
        return fail(
            host,
            step,
            scope,
            f"{where}: {uses}: composite actions nest more than "
            f"{MAX_DEPTH} deep; does an action use itself?",
        )
    try:
        inputs = action_inputs(host, step, action, contexts, index)
    except EngineProblem as problem:
        return fail(host, step, scope, str(problem))

    inner = StepScope(
        env_layers=[*scope.env_layers, step_env],
        inputs=inputs,
        action_path=action_path,
        depth=scope.depth + 1,
        log_index=index,
    )
    for sub_step in action.steps:
        host.execute_step(sub_step, inner)

    outcome = StepOutcome(Status.SUCCESS)
    if inner.failed:
        outcome.outcome = Status.FAILURE
        outcome.reason = inner.first_failure
    elif inner.cancelled:
        outcome.outcome = Status.CANCELLED
        outcome.reason = "cancelled"
    try:
        outcome.outputs = _outputs(host, action, inner)
    except EngineProblem as problem:
        host.log_line(index, f"##[error]{problem}")
        outcome.outcome = Status.FAILURE
        outcome.reason = outcome.reason or str(problem)
    return outcome


def _outputs(host: ActionHost, action: CompositeAction, scope: StepScope) -> dict[str, str]:
    env = host.env_context(scope)
    contexts = host.step_contexts(scope, env)
    return {
        name: evaluation.string(template, contexts, action.position, f"outputs.{name}")
        for name, template in action.outputs.items()
    }
