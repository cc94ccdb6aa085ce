"""Built-in actions: ``uses:`` steps that Conveyor implements natively.

``run_action`` picks the implementation for a ``uses:`` reference: a local
composite action (``./path``), or a built-in registered in ``BUILT_IN`` by its
``owner/name`` (lower case, without ``@ref``).
"""

from __future__ import annotations

from typing import Any

from conveyor.actions.cache import run_cache
from conveyor.actions.checkout import run_checkout
from conveyor.actions.composite import run_composite
from conveyor.engine.events import Status
from conveyor.engine.step_types import ActionHandler, ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

BUILT_IN: dict[str, ActionHandler] = {
    "actions/checkout": run_checkout,
    "actions/cache": run_cache,
}


def action_name(uses: str) -> str:
    """``owner/name`` of ``owner/name/path@ref``, lower case."""
    without_ref = uses.split("@", 1)[0]
    return "/".join(without_ref.split("/")[:2]).lower()


def run_action(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    uses = (step.uses or "").strip()
    if uses.startswith(("./", "../")) or uses in (".", ".."):
        return run_composite(host, step, scope, contexts, step_env)
    if uses.startswith("docker://"):
        return _unavailable(host, scope, step, f"Docker actions ({uses}) cannot run locally")
    handler = BUILT_IN.get(action_name(uses))
    if handler is None:
        known = ", ".join(sorted(BUILT_IN))
        return _unavailable(
            host,
            scope,
            step,
            f"action {uses!r} is not available locally; Conveyor runs local composite "
            f"actions (uses: ./path) and these built-in actions: {known}",
        )
    return handler(host, step, scope, contexts, step_env)


def _unavailable(host: ActionHost, scope: StepScope, step: Step, message: str) -> StepOutcome:
    where = step.positions.get("uses", step.position)
    reason = f"{where}: {message}"
    host.log_line(step.index if scope.depth == 0 else scope.log_index, f"##[error]{reason}")
    return StepOutcome(Status.FAILURE, reason=reason)
