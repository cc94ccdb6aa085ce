"""The package-manager cache of setup actions (``cache: pip``, setup-uv's ``enable-cache``).

A stand-in until the dependency cache lands: it says caching is not available and
reports no cache hit, so the setup actions that ask for it run on without it.
"""

from __future__ import annotations

from conveyor.actions.setup_inputs import log_index
from conveyor.engine.step_types import ActionHost, StepScope
from conveyor.workflow.model import Step


def restore_dependencies(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    *,
    manager: str,
    paths: list[str],
    key_parts: list[str],
    dependency_globs: list[str],
) -> bool:
    """Restore ``paths`` for ``manager``; whether the key was hit. (Not available yet.)"""
    host.warn(
        log_index(step, scope),
        f"dependency caching (cache: {manager}) is not available yet; continuing without it",
    )
    return False
