"""An action's ``inputs``: the step's ``with:`` and the action's declared defaults."""

from __future__ import annotations

from typing import Any

from conveyor.engine import evaluation
from conveyor.engine.step_types import ActionHost
from conveyor.workflow.model import CompositeAction, Step


def action_inputs(
    host: ActionHost, step: Step, action: CompositeAction, contexts: dict[str, Any], index: int
) -> dict[str, Any]:
    """Every declared input (given, else its default, else ""), then any undeclared ones.

    As GitHub's runner: an undeclared input is warned about and still passed on; a
    required one missing is warned about (the action decides whether that is fatal).
    Defaults are templates (``${{ github.token }}``) evaluated in the step's contexts.
    """
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


def input_variable(name: str) -> str:
    """``INPUT_<NAME>``: what @actions/core's getInput reads (spaces to ``_``, upper case)."""
    return "INPUT_" + name.replace(" ", "_").upper()
