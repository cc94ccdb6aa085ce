"""Local composite actions (``uses: ./path``): their steps run as sub-steps of the ``uses`` step.

Their output belongs to the ``uses`` step's log; their ``if``, ``env`` and
``shell`` apply; ``inputs`` comes from ``with`` and the declared defaults; the
action's ``outputs`` become the step's outputs. Paths are relative to the
workspace, as on GitHub, also inside a nested action, and must stay inside it
(symlinks followed).
"""

from __future__ import annotations

import os
from typing import Any

from conveyor.engine import evaluation
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.events import Status
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import ACTION_FILES, load_action
from conveyor.workflow.model import CompositeAction, Step

MAX_DEPTH = 10


def run_composite(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    index = step.index if scope.depth == 0 else scope.log_index
    where = step.positions.get("uses", step.position)
    uses = (step.uses or "").strip()
    if scope.depth >= MAX_DEPTH:
        return _fail(
            host,
            index,
            f"{where}: {uses}: composite actions nest more than "
            f"{MAX_DEPTH} deep; does an action use itself?",
        )
    action_dir = os.path.normpath(os.path.join(host.workspace, uses))
    escape = _leaves_workspace(host.workspace, action_dir)
    if escape is not None:
        return _fail(
            host,
            index,
            f"{where}: {uses}: refused: {escape}, outside the workspace {host.workspace} "
            "(a local action must be inside the repository)",
        )
    if not any(os.path.isfile(os.path.join(action_dir, name)) for name in ACTION_FILES):
        return _fail(
            host,
            index,
            f"{where}: {uses}: no action.yml or action.yaml in {action_dir} "
            "(paths in uses: are relative to the workspace)",
        )
    try:
        action = load_action(action_dir, display_path=uses, within=host.workspace)
    except WorkflowInvalid as error:
        problems = "; ".join(str(problem) for problem in error.problems)
        return _fail(host, index, f"{where}: {uses}: the action is invalid: {problems}")
    except OSError as error:
        return _fail(host, index, f"{where}: {uses}: cannot read the action: {error}")
    try:
        inputs = _inputs(host, step, action, contexts, index)
    except EngineProblem as problem:
        return _fail(host, index, str(problem))

    inner = StepScope(
        env_layers=[*scope.env_layers, step_env],
        inputs=inputs,
        action_path=action_dir,
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


def _inputs(
    host: ActionHost, step: Step, action: CompositeAction, contexts: dict[str, Any], index: int
) -> dict[str, Any]:
    given = evaluation.string_map(step.with_, contexts, step.positions, step.position, "with")
    declared = {name.lower(): name for name in action.inputs}
    unexpected = [name for name in given if name.lower() not in declared]
    if unexpected:
        host.warn(
            index,
            f"{step.uses}: unexpected input(s) {', '.join(sorted(unexpected))}; "
            f"the action accepts {', '.join(sorted(action.inputs)) or 'none'}",
        )
    inputs: dict[str, Any] = {}
    given_lower = {name.lower(): value for name, value in given.items()}
    for name, spec in action.inputs.items():
        if name.lower() in given_lower:
            inputs[name] = given_lower[name.lower()]
        elif spec.default is not None:
            inputs[name] = evaluation.string(
                spec.default, contexts, action.position, f"inputs.{name}.default"
            )
        else:
            if spec.required:
                host.warn(index, f"{step.uses}: input required and not supplied: {name}")
            inputs[name] = ""
    for name, value in given.items():
        inputs.setdefault(name, value)
    return inputs


def _outputs(host: ActionHost, action: CompositeAction, scope: StepScope) -> dict[str, str]:
    env = host.env_context(scope)
    contexts = host.step_contexts(scope, env)
    return {
        name: evaluation.string(template, contexts, action.position, f"outputs.{name}")
        for name, template in action.outputs.items()
    }


def _leaves_workspace(workspace: str, action_dir: str) -> str | None:
    """Where the action directory or its action file really is, if not in the workspace.

    Symlinks are followed: a link in the repository may point anywhere on the host,
    and the action file is read by Conveyor itself, outside any sandbox.
    """
    root = os.path.realpath(workspace)
    real_dir = os.path.realpath(action_dir)
    if not _within(real_dir, root):
        return f"the directory resolves to {real_dir}"
    for name in ACTION_FILES:
        candidate = os.path.join(action_dir, name)
        if os.path.isfile(candidate):
            real_file = os.path.realpath(candidate)
            if not _within(real_file, root):
                return f"{name} resolves to {real_file}"
            break
    return None


def _within(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _fail(host: ActionHost, index: int, reason: str) -> StepOutcome:
    host.log_line(index, f"##[error]{host.masker.mask(reason)}")
    return StepOutcome(Status.FAILURE, reason=reason)
