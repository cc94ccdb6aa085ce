"""A built-in action's ``with:`` values, read as its ``action.yml`` declares them.

Names are case-insensitive and a name the action does not declare is warned about,
as on GitHub. Booleans are read the way the action itself reads them, and the actions
differ, so each reading has its own name:

- ``toolkit_boolean``: GitHub's toolkit ``getBooleanInput`` (setup-python, setup-uv,
  setup-node, upload- and download-artifact): only the YAML 1.2 core spellings,
  anything else an error;
- ``lenient_boolean``: how ``actions/cache`` and ``actions/checkout`` read theirs:
  ``true`` in any case is true, anything else false, never an error.

A value of the wrong kind is never a traceback: ``problem`` (an ``EngineProblem`` at
the step's ``with:``) or ``ActionFailed`` (the action's own failure, which its
handler turns into a failed step with ``action_steps.fail``).
"""

from __future__ import annotations

from typing import Any

from conveyor.actions.action_steps import ActionFailed, log_index
from conveyor.engine import evaluation
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.step_types import ActionHost, StepScope
from conveyor.workflow.model import Step

_TOOLKIT_TRUE = ("true", "True", "TRUE")
_TOOLKIT_FALSE = ("false", "False", "FALSE")


class ActionInputs:
    """The evaluated ``with:`` of one built-in action step, with its declared defaults."""

    def __init__(
        self,
        host: ActionHost,
        step: Step,
        scope: StepScope,
        contexts: dict[str, Any],
        declared: dict[str, str],  # name -> default
    ) -> None:
        self.step = step
        self.where = step.positions.get("with", step.positions.get("uses", step.position))
        given = evaluation.string_map(step.with_, contexts, step.positions, step.position, "with")
        self._values = {name.lower(): value for name, value in given.items()}
        self._declared = {name.lower(): default for name, default in declared.items()}
        unexpected = sorted(name for name in given if name.lower() not in self._declared)
        if unexpected:
            host.warn(
                log_index(step, scope),
                f"{step.uses}: unexpected input(s) {', '.join(unexpected)}; "
                f"valid inputs are {', '.join(sorted(declared))}",
            )

    def names(self) -> list[str]:
        """Every input: the declared ones and any other the step gives (lower case)."""
        return sorted({*self._declared, *self._values})

    def given(self, name: str) -> bool:
        """Whether the step gives the input a value that is not blank."""
        return bool(self._values.get(name.lower(), "").strip())

    def text(self, name: str) -> str:
        """The input's value (trimmed), else (absent or blank) its default."""
        value = self._values.get(name.lower())
        if value is None or not value.strip():
            value = self._declared.get(name.lower(), "")
        return value.strip()

    def raw(self, name: str) -> str:
        """The input's value as given (untrimmed, maybe blank), else its default."""
        value = self._values.get(name.lower())
        return self._declared.get(name.lower(), "") if value is None else value

    def lines(self, name: str) -> list[str]:
        """A multi-line list input, one item a line, each trimmed, blanks dropped."""
        return [line.strip() for line in self.text(name).splitlines() if line.strip()]

    def toolkit_boolean(self, name: str) -> bool:
        """As the toolkit's ``getBooleanInput``: true/True/TRUE or false/False/FALSE.

        Anything else is ``ActionFailed`` naming the input. No value at all (nor a
        default) is false."""
        value = self.text(name)
        if value in _TOOLKIT_TRUE:
            return True
        if value in _TOOLKIT_FALSE or value == "":
            return False
        raise ActionFailed(f"input {name} must be true or false, got {value!r}")

    def lenient_boolean(self, name: str) -> bool:
        """As ``actions/cache`` reads its flags: ``true`` in any case, else false (blank:
        the default)."""
        return self.text(name).lower() == "true"

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        """One of ``choices`` (lower case), in any case; anything else is a ``problem``."""
        value = self.raw(name).strip().lower()
        if value not in choices:
            raise self.problem(
                f"input {name!r} must be one of {', '.join(choices)}, not {self.raw(name)!r}"
            )
        return value

    def integer(self, name: str, low: int, high: int | None = None) -> int:
        """A whole number from ``low`` (to ``high``); anything else is a ``problem``."""
        text = self.raw(name).strip()
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise self.problem(f"input {name!r} must be a whole number {span}, not {text!r}")
        return value

    def problem(self, message: str) -> EngineProblem:
        """The step's ``with:`` is wrong: ``message``, said where it is in the workflow."""
        return EngineProblem(f"{self.where}: {self.step.uses}: {message}")
