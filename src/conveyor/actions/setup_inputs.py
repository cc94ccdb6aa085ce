"""What the setup built-ins need from their ``uses:`` step: inputs, log, failure, files.

Inputs are read as GitHub's toolkit reads them: names case-insensitive, values
trimmed, booleans only in the YAML 1.2 core spellings (``true``/``True``/``TRUE``).
A name the action does not declare is a warning, as on GitHub.
"""

from __future__ import annotations

import os
from typing import Any

from conveyor.engine import evaluation
from conveyor.engine.events import Status
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

_TRUE = ("true", "True", "TRUE")
_FALSE = ("false", "False", "FALSE")


class ActionInputs:
    """The evaluated ``with:`` of one built-in action step, with its declared defaults."""

    def __init__(
        self,
        host: ActionHost,
        step: Step,
        scope: StepScope,
        contexts: dict[str, Any],
        declared: dict[str, str],
    ) -> None:
        self.step = step
        self.where = step.positions.get("uses", step.position)
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
        return bool(self._values.get(name.lower(), "").strip())

    def text(self, name: str) -> str:
        """The input's value (trimmed), else its default."""
        value = self._values.get(name.lower())
        if value is None or not value.strip():
            value = self._declared.get(name.lower(), "")
        return value.strip()

    def raw(self, name: str) -> str:
        """The input's value as given (untrimmed), else its default."""
        value = self._values.get(name.lower())
        return self._declared.get(name.lower(), "") if value is None else value

    def lines(self, name: str) -> list[str]:
        """A multi-line or comma-free list input, one item a line, blanks dropped."""
        return [line.strip() for line in self.text(name).splitlines() if line.strip()]

    def flag(self, name: str) -> bool:
        value = self.text(name)
        if value in _TRUE:
            return True
        if value in _FALSE or value == "":
            return False
        raise ActionFailed(f"input {name} must be true or false, got {value!r}")


def log_index(step: Step, scope: StepScope) -> int:
    """The job step whose log a (possibly nested) action step writes to."""
    return step.index if scope.depth == 0 else scope.log_index


def fail(host: ActionHost, step: Step, scope: StepScope, message: str) -> StepOutcome:
    """The step fails with ``message``, said where the ``uses:`` is in the workflow."""
    where = step.positions.get("uses", step.position)
    reason = f"{where}: {step.uses}: {message}"
    host.log_line(log_index(step, scope), f"##[error]{host.masker.mask(reason)}")
    return StepOutcome(Status.FAILURE, reason=host.masker.mask(reason))


def job_env(host: ActionHost, scope: StepScope, step_env: dict[str, str]) -> dict[str, str]:
    """The environment the workflow gives the step's processes (job, then step ``env:``)."""
    return {**host.env_context(scope), **step_env}


class ActionFailed(Exception):
    """The action cannot do what its inputs ask; the message says what and why."""


def read_workspace_file(host: ActionHost, relative: str, what: str) -> str | None:
    """The text of ``relative`` (a path the workflow gave) in the workspace; None if absent.

    The engine reads it on the host, so a path or link leading out of the workspace
    (to the server's data, say) is refused rather than followed, and only a regular
    file of reasonable size is read.
    """
    from conveyor.engine.host_files import read_regular

    path = os.path.normpath(os.path.join(host.workspace, relative))
    real = os.path.realpath(path)
    root = os.path.realpath(host.workspace)
    if os.path.commonpath([real, root]) != root:
        raise ActionFailed(f"{what} {relative!r} is outside the workspace (it resolves to {real})")
    if not os.path.lexists(real):
        return None
    data = read_regular(real, _FILE_LIMIT + 1)
    if len(data) > _FILE_LIMIT:
        raise ActionFailed(f"{what} {relative!r} is over {_FILE_LIMIT // 1024} KiB")
    return data.decode("utf-8", errors="replace")


_FILE_LIMIT = 1024 * 1024
