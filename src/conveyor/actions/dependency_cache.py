"""The package-manager cache of the setup actions (setup-python's ``cache: pip``,
setup-uv's ``enable-cache``, setup-node's ``cache: npm``): actions/cache underneath.

As setup-python does: the key is the caller's parts (``setup-python-<os>-<arch>-
python-<version>-<manager>``) and the hash of the dependency files; no dependency
file is an error that says which patterns found nothing; pip also restores the
newest entry of the same prefix when the files changed; the entry is saved in a post
step after a successful job, unless the key itself was hit. The entries share the
repository's cache store (``cache_store.py``) with ``actions/cache``.
"""

from __future__ import annotations

import os
from pathlib import Path

from conveyor.actions.action_steps import at_uses, log_index
from conveyor.actions.cache import (
    CacheRequest,
    compression_method,
    open_stores,
    register_save,
    restore,
)
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.step_types import ActionHost, StepScope
from conveyor.workflow.expressions.errors import ExpressionError
from conveyor.workflow.expressions.hashfiles import hash_files
from conveyor.workflow.model import Step

# Managers whose entries also restore from the key without the files' hash.
_PREFIX_RESTORE = ("pip",)


def restore_dependencies(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    *,
    manager: str,
    paths: list[str],
    key_parts: list[str],
    dependency_globs: list[str],
    warn_when_unmatched: bool = False,
) -> bool:
    """Restore ``paths`` (the manager's cache directories) and save them at the job's end;
    whether the key was hit exactly (the action's ``cache-hit``).

    No dependency file is an error, as setup-python and setup-node make it; setup-uv
    (``warn_when_unmatched``) warns instead and keys the entry on its other parts."""
    index = log_index(step, scope)
    try:
        digest = hash_files(Path(host.workspace), dependency_globs)
    except ExpressionError as error:
        raise EngineProblem(at_uses(step, error.message)) from None
    unmatched = (
        f"No file in {host.workspace} matched to [{','.join(dependency_globs)}], "
        "make sure you have checked out the target repository"
    )
    if not digest and not warn_when_unmatched:
        raise EngineProblem(at_uses(step, unmatched))
    prefix = "-".join(key_parts)
    if digest:
        key = f"{prefix}-{digest}"
    else:
        host.warn(index, f"{unmatched}; the cache will never be invalidated")
        key = prefix
    env = host.env_context(scope)
    patterns = [_in_home_terms(path, env.get("HOME", "")) for path in paths]
    own, *fallbacks = open_stores(host, step)
    request = CacheRequest(key, patterns, own, compression_method(env.get("PATH")), fallbacks)
    restore_keys = [prefix] if manager in _PREFIX_RESTORE else []
    matched = restore(host, step, scope, env, request, restore_keys)
    if matched is None:
        host.log_line(index, f"{manager} cache is not found")
    register_save(host, step, scope, env, request, matched, step.display_name)
    return matched == key


def _in_home_terms(path: str, home: str) -> str:
    """``~/...`` for a path in the engine's HOME: a sandboxed job has a HOME of its own,
    and the cache belongs there, whatever its name in this run."""
    home = home.rstrip("/")
    if home and (path == home or path.startswith(home + "/")):
        return "~" + path[len(home) :]
    return os.path.normpath(path) if path.startswith("/") else path
