"""Run a small ``sh`` script inside the job for a built-in action, and let it export.

A built-in action changes the environment of the later steps the way a JavaScript
action does: its process appends to ``GITHUB_ENV`` and ``GITHUB_PATH``. Doing it
in the job (rather than by the engine) means the job sees exactly what it will
use, the sandbox applies, and the engine writes nothing a step could have
redirected. Values travel as environment variables, never spliced into the
script, so no quoting can go wrong.
"""

from __future__ import annotations

from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

# Run after the action's own script succeeded (``set -e``); GitHub's file formats.
_EXPORT = """
if [ -n "${CONVEYOR_EXPORT_ENV-}" ]; then
  printf '%s\\n' "$CONVEYOR_EXPORT_ENV" >> "$GITHUB_ENV"
fi
if [ -n "${CONVEYOR_EXPORT_PATH-}" ]; then
  printf '%s\\n' "$CONVEYOR_EXPORT_PATH" >> "$GITHUB_PATH"
fi
"""


def run_shell(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    env: dict[str, str],
    script: str,
    arguments: list[str],
    *,
    set_env: dict[str, str] | None = None,
    add_path: list[str] | None = None,
    cwd: str | None = None,
) -> StepOutcome:
    """``sh -ec script arguments...`` in the job; then ``set_env`` and ``add_path`` (in
    this order: the last entry ends first on PATH, as with core.addPath)."""
    exports = dict(env)
    lines = []
    for name, value in (set_env or {}).items():
        if "\n" in value or "\r" in value:
            raise EngineProblem(f"{step.uses}: cannot export {name}: its value has a newline")
        lines.append(f"{name}={value}")
    for entry in add_path or []:
        if "\n" in entry or "\r" in entry:
            raise EngineProblem(f"{step.uses}: cannot add {entry!r} to PATH: it has a newline")
    exports["CONVEYOR_EXPORT_ENV"] = "\n".join(lines)
    exports["CONVEYOR_EXPORT_PATH"] = "\n".join(add_path or [])
    argv = ["/bin/sh", "-ec", script + _EXPORT, step.uses or "action", *arguments]
    return host.run_process(step, scope, argv, exports, cwd=cwd)
