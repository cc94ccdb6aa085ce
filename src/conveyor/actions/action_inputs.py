"""A built-in action's ``with:`` values, read as its ``action.yml`` declares them.

Unknown names are warned about as GitHub's runner does; a value that is not of the
declared kind (a boolean, a number) is an ``EngineProblem`` naming the step's
``with:`` position, never a traceback.
"""

from __future__ import annotations

from typing import Any

from conveyor.engine import evaluation
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.step_types import ActionHost
from conveyor.workflow.model import Step


class ActionInputs:
    def __init__(
        self,
        host: ActionHost,
        step: Step,
        contexts: dict[str, Any],
        index: int,
        declared: dict[str, str],  # name -> default
    ) -> None:
        given = evaluation.string_map(step.with_, contexts, step.positions, step.position, "with")
        self.step = step
        self.where = step.positions.get("with", step.positions.get("uses", step.position))
        self.given = {name.lower(): value for name, value in given.items()}
        unexpected = sorted(name for name in self.given if name not in declared)
        if unexpected:
            host.warn(
                index,
                f"{step.uses}: unexpected input(s) {', '.join(unexpected)}; "
                f"valid inputs are {', '.join(sorted(declared))}",
            )
        self.values = {name: self.given.get(name, default) for name, default in declared.items()}

    def text(self, name: str) -> str:
        return str(self.values[name])

    def was_given(self, name: str) -> bool:
        return name in self.given

    def lines(self, name: str) -> list[str]:
        return [line.strip() for line in self.text(name).splitlines() if line.strip()]

    def flag(self, name: str) -> bool:
        value = self.text(name).strip().lower()
        if value in ("true", "false"):
            return value == "true"
        raise self.problem(f"input {name!r} must be true or false, not {self.text(name)!r}")

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        value = self.text(name).strip().lower()
        if value not in choices:
            raise self.problem(
                f"input {name!r} must be one of {', '.join(choices)}, not {self.text(name)!r}"
            )
        return value

    def integer(self, name: str, low: int, high: int | None = None) -> int:
        text = self.text(name).strip()
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise self.problem(f"input {name!r} must be a whole number {span}, not {text!r}")
        return value

    def problem(self, message: str) -> EngineProblem:
        return EngineProblem(f"{self.where}: {self.step.uses}: {message}")
