"""``actions/cache``, ``actions/cache/restore`` and ``actions/cache/save``, natively.

As their ``action.yml`` files say: ``key`` and ``path`` are required; ``restore-keys``
are prefixes tried after the key (for each, an exact match first, then the newest
entry starting with it); ``cache-hit`` is ``true`` only for an exact match of the
key, ``false`` for a restore-key match and empty on a miss; ``fail-on-cache-miss``
fails the step on a miss; ``lookup-only`` only checks; ``actions/cache`` saves in a
post step when the job succeeded, unless the key itself was hit; ``/restore`` also
outputs ``cache-primary-key`` and ``cache-matched-key``. Saving never fails a step
(GitHub only warns). ``upload-chunk-size`` concerns uploads to GitHub's service and
``enableCrossOsArchive`` Windows runners: both are accepted and change nothing here,
as on a Linux runner. ``save-always`` is deprecated by GitHub and does nothing but warn.

The entries live in ``cache_store.py``; archives are made and unpacked inside the job
(``cache_archive.py``) and moved through ``runner.temp`` without following links.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field
from typing import Any

from conveyor.actions import action_steps
from conveyor.actions.action_inputs import ActionInputs
from conveyor.actions.action_steps import at_uses, fail, log_index
from conveyor.actions.cache_archive import (
    NOTHING_TO_SAVE,
    archive_suffix,
    compression_method,
    pattern_problem,
    restore_argv,
    save_argv,
)
from conveyor.actions.cache_store import (
    CacheEntry,
    CacheStore,
    CacheStoreError,
    cache_version,
    copy_between,
    max_bytes_from_environment,
)
from conveyor.actions.runner_temp_files import (
    RunnerTempError,
    new_name,
    open_from_runner_temp,
    remove_from_runner_temp,
)
from conveyor.engine import evaluation
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.events import Status
from conveyor.engine.options import default_store_dir
from conveyor.engine.step_types import ActionHost, PostStep, StepOutcome, StepScope
from conveyor.workflow.model import Step

# Jobs found unable to read the store (sandboxed): their later restores copy at once.
_STORE_VISIBLE: weakref.WeakKeyDictionary[ActionHost, bool] = weakref.WeakKeyDictionary()

MAX_KEYS = 10
MAX_KEY_LENGTH = 512

_RESTORE_INPUTS = {
    "path": "",
    "key": "",
    "restore-keys": "",
    "enableCrossOsArchive": "false",
    "fail-on-cache-miss": "false",
    "lookup-only": "false",
}
_CACHE_INPUTS = {**_RESTORE_INPUTS, "upload-chunk-size": "", "save-always": "false"}
_SAVE_INPUTS = {"path": "", "key": "", "upload-chunk-size": "", "enableCrossOsArchive": "false"}

SAVE_ALWAYS_DEPRECATED = (
    "save-always does not work as intended and will be removed in a future release. "
    "A separate `actions/cache/restore` step should be used instead."
)


@dataclass
class CacheRequest:
    """What one cache step asks for: the entry's key, its paths, where it lives."""

    key: str
    patterns: list[str]
    store: CacheStore  # where an entry is saved, and searched first
    compression: str
    # Searched after ``store``, never written: a fork's pull request reads the
    # repository's entries but saves apart (RunOptions.cache_restore_scopes).
    fallbacks: list[CacheStore] = field(default_factory=list)

    @property
    def version(self) -> str:
        return cache_version(self.patterns, self.compression)


def run_cache(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    """``actions/cache[/restore|/save]``: which one is said by the path after the name."""
    kind = _sub_action(step.uses or "")
    if kind == "restore":
        return _restore_action(host, step, scope, contexts, step_env, with_post=False)
    if kind == "save":
        return _save_action(host, step, scope, contexts, step_env)
    if kind:
        return fail(host, step, scope, at_uses(step, "no such action"))
    return _restore_action(host, step, scope, contexts, step_env, with_post=True)


def open_stores(host: ActionHost, step: Step) -> list[CacheStore]:
    """The run's cache stores: its own scope (``RunOptions.cache_scope``: the
    repository's) first, then the scopes it may only read."""
    options = host.options
    store_dir = options.store_dir or default_store_dir()
    scope = options.cache_scope or f"workspace:{os.path.realpath(options.workspace)}"
    try:
        limit = options.cache_max_bytes or max_bytes_from_environment()
        return [
            CacheStore(store_dir, name, limit) for name in [scope, *options.cache_restore_scopes]
        ]
    except (CacheStoreError, OSError) as error:
        raise EngineProblem(at_uses(step, f"the cache store: {error}")) from None


def restore(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    env: dict[str, str],
    request: CacheRequest,
    restore_keys: list[str],
    *,
    lookup_only: bool = False,
) -> str | None:
    """Restore the entry matching ``request.key`` then ``restore_keys`` into the job;
    the key restored (or found, with ``lookup_only``), None on a miss."""
    index = log_index(step, scope)
    for store in [request.store, *request.fallbacks]:
        entry = store.lookup([request.key, *restore_keys], request.version, touch=not lookup_only)
        if entry is not None:
            break
    else:
        return None
    if lookup_only:
        host.log_line(index, f"Cache found and can be restored from key: {entry.key}")
        return entry.key
    host.log_line(index, f"Cache Size: ~{round(entry.size / 1048576)} MB ({entry.size} B)")
    # A job that can read the store itself (unsandboxed: nothing stands between them)
    # unpacks the store's file in place; a sandboxed one gets a copy in runner.temp.
    outcome: StepOutcome | None = None
    if _STORE_VISIBLE.get(host, True):
        argv = restore_argv(
            host.runner_temp,
            store.archive_path(entry),
            request.compression,
            request.patterns,
            direct=True,
        )
        outcome = host.run_process(step, scope, argv, env)
        if outcome.outputs.get("store-visible") == "false":
            _STORE_VISIBLE[host] = False
            outcome = None
    if outcome is None:
        outcome = _restore_a_copy(host, step, scope, env, request, store, entry)
        if outcome is None:
            return None
    if outcome.outcome != Status.SUCCESS:
        host.warn(index, f"Failed to restore: tar exited with {outcome.exit_code}")
        return None
    host.log_line(index, f"Cache restored from key: {entry.key}")
    return entry.key


def _restore_a_copy(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    env: dict[str, str],
    request: CacheRequest,
    store: CacheStore,
    entry: CacheEntry,
) -> StepOutcome | None:
    name = new_name(archive_suffix(request.compression))
    try:
        with store.open_archive(entry) as archive_fd:
            _copy_into_runner_temp(host.runner_temp, archive_fd, name)
    except (CacheStoreError, RunnerTempError, OSError) as error:
        _remove(host, name)
        host.warn(log_index(step, scope), f"Failed to restore: {error}")
        return None
    argv = restore_argv(host.runner_temp, name, request.compression, request.patterns, direct=False)
    try:
        return host.run_process(step, scope, argv, env)
    finally:
        _remove(host, name)


def save(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    env: dict[str, str],
    request: CacheRequest,
    log_index: int | None = None,
) -> bool:
    """Archive what ``request.patterns`` match in the job and keep it under its key.
    Problems are warnings, as on GitHub: True when an entry was saved."""
    index = action_steps.log_index(step, scope) if log_index is None else log_index
    for pattern in request.patterns:
        problem = pattern_problem(pattern)
        if problem:
            host.warn(index, f"Failed to save: {problem}")
            return False
    if request.store.has(request.key, request.version):
        host.log_line(index, f"Failed to save: {_reserved(request.key)}")
        return False
    name = new_name(archive_suffix(request.compression))
    argv = save_argv(host.runner_temp, name, request.compression, request.patterns)
    made = host.run_process(step, scope, argv, env, log_index=index)
    try:
        if made.outcome != Status.SUCCESS:
            if made.exit_code == NOTHING_TO_SAVE:
                host.warn(
                    index,
                    "Path Validation Error: Path(s) specified in the action for caching "
                    "do(es) not exist, hence no cache is being saved.",
                )
            else:
                host.warn(index, f"Failed to save: tar exited with {made.exit_code}")
            return False
        with open_from_runner_temp(host.runner_temp, name) as archive_fd:
            if archive_fd is None:
                host.warn(index, "Failed to save: the archive in runner.temp is not a regular file")
                return False
            result = request.store.save(
                request.key,
                request.version,
                archive_fd,
                archive_suffix(request.compression),
            )
    except (RunnerTempError, OSError) as error:
        host.warn(index, f"Failed to save: {error}")
        return False
    finally:
        _remove(host, name)
    if not result.saved:
        host.warn(index, f"Failed to save: {result.message}")
        return False
    for key in result.evicted:
        host.log_line(index, f"Evicted cache entry {key} (the repository's cache is full)")
    host.log_line(index, result.message)
    return True


def register_save(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    env: dict[str, str],
    request: CacheRequest,
    matched_key: str | None,
    name: str,
) -> None:
    """Save ``request`` after the job's steps if the job succeeded and the key was not hit."""

    def post(index: int) -> StepOutcome:
        if _exact_match(request.key, matched_key):
            host.log_line(
                index, f"Cache hit occurred on the primary key {request.key}, not saving cache."
            )
        else:
            save(host, step, scope, env, request, log_index=index)
        return StepOutcome(Status.SUCCESS)

    host.add_post_step(PostStep(name, post, "success()"))


# -- the three actions ------------------------------------------------------------


def _restore_action(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
    *,
    with_post: bool,
) -> StepOutcome:
    index = log_index(step, scope)
    declared = _CACHE_INPUTS if with_post else _RESTORE_INPUTS
    inputs = ActionInputs(host, step, scope, contexts, declared)
    key = inputs.text("key")
    patterns = _patterns(inputs)
    for name, value in (("key", key), ("path", patterns)):
        if not value:
            where = f"{inputs.where}: {step.uses}"
            return fail(host, step, scope, f"{where}: Input required and not supplied: {name}")
    restore_keys = inputs.lines("restore-keys")
    problem = _keys_problem([key, *restore_keys])
    if problem:
        return fail(host, step, scope, f"{inputs.where}: {step.uses}: {problem}")
    if with_post and inputs.lenient_boolean("save-always"):
        host.warn(index, f"{step.uses}: {SAVE_ALWAYS_DEPRECATED}")
    env = {**host.env_context(scope), **step_env}
    request = _request(host, step, key, patterns, env)
    lookup_only = inputs.lenient_boolean("lookup-only")
    matched = restore(host, step, scope, env, request, restore_keys, lookup_only=lookup_only)
    outputs: dict[str, str] = {}
    if not with_post:
        outputs["cache-primary-key"] = key
    if with_post:
        register_save(host, step, scope, env, request, matched, _shown_name(step, contexts))
    if matched is None:
        if inputs.lenient_boolean("fail-on-cache-miss"):
            return fail(
                host,
                step,
                scope,
                "Failed to restore cache entry. Exiting as fail-on-cache-miss is set. "
                f"Input key: {key}",
                outputs,
            )
        host.log_line(index, f"Cache not found for input keys: {', '.join([key, *restore_keys])}")
        return StepOutcome(Status.SUCCESS, outputs=outputs)
    outputs["cache-hit"] = "true" if _exact_match(key, matched) else "false"
    if not with_post:
        outputs["cache-matched-key"] = matched
    return StepOutcome(Status.SUCCESS, outputs=outputs)


def _save_action(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    index = log_index(step, scope)
    inputs = ActionInputs(host, step, scope, contexts, _SAVE_INPUTS)
    key = inputs.text("key")
    patterns = _patterns(inputs)
    if not key or not patterns:
        missing = "key" if not key else "path"
        host.warn(index, f"{inputs.where}: {step.uses}: Input required and not supplied: {missing}")
        host.warn(index, "Cache save failed.")
        return StepOutcome(Status.SUCCESS)
    problem = _keys_problem([key])
    if problem:
        host.warn(index, f"{inputs.where}: {step.uses}: {problem}")
        return StepOutcome(Status.SUCCESS)
    env = {**host.env_context(scope), **step_env}
    request = _request(host, step, key, patterns, env)
    if not save(host, step, scope, env, request):
        host.warn(index, "Cache save failed.")
    return StepOutcome(Status.SUCCESS)


# -- small helpers ------------------------------------------------------------------


def _request(
    host: ActionHost, step: Step, key: str, patterns: list[str], env: dict[str, str]
) -> CacheRequest:
    compression = compression_method(env.get("PATH"))
    own, *fallbacks = open_stores(host, step)
    return CacheRequest(key, patterns, own, compression, fallbacks)


def _sub_action(uses: str) -> str:
    parts = uses.split("@", 1)[0].strip("/").split("/")
    return "/".join(parts[2:]).lower()


def _patterns(inputs: ActionInputs) -> list[str]:
    """``path`` lines as GitHub reads them: trimmed, ``! pattern`` as ``!pattern``."""
    patterns = []
    for line in inputs.text("path").split("\n"):
        line = line.strip()
        if line.startswith("!"):
            line = "!" + line[1:].lstrip()
        if line:
            patterns.append(line)
    return patterns


def _keys_problem(keys: list[str]) -> str | None:
    if len(keys) > MAX_KEYS:
        return f"Key Validation Error: Keys are limited to a maximum of {MAX_KEYS}."
    for key in keys:
        if len(key) > MAX_KEY_LENGTH:
            return f"Key Validation Error: {key} cannot be larger than {MAX_KEY_LENGTH} characters."
        if "," in key:
            return f"Key Validation Error: {key} cannot contain commas."
    return None


def _exact_match(key: str, matched: str | None) -> bool:
    # GitHub compares ignoring case (localeCompare with sensitivity "accent").
    return matched is not None and matched.casefold() == key.casefold()


def _shown_name(step: Step, contexts: dict[str, Any]) -> str:
    if step.name:
        try:
            return evaluation.string(step.name, contexts, step.position, "name")
        except EngineProblem:
            return step.name
    return step.display_name


def _copy_into_runner_temp(runner_temp: str, archive_fd: int, name: str) -> None:
    """A copy of the store's archive as ``runner_temp/name``, for the job's tar to read.

    A copy, not a link: the job must not reach the store's own file (a sandboxed job
    running as the server's user could change it for every later run). ``runner.temp``
    is opened without following a link and the file made there with ``O_EXCL``, so a
    link the job planted leads nowhere."""
    try:
        directory = os.open(runner_temp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as error:
        raise RunnerTempError(f"runner.temp {runner_temp} is not a directory: {error}") from None
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        out = os.open(name, flags, 0o644, dir_fd=directory)
    finally:
        os.close(directory)
    try:
        copy_between(archive_fd, out, os.fstat(archive_fd).st_size)
        os.fchmod(out, 0o644)  # whatever the umask: a job run as another user reads it
    finally:
        os.close(out)


def _remove(host: ActionHost, name: str) -> None:
    try:
        remove_from_runner_temp(host.runner_temp, name)
    except (RunnerTempError, OSError):
        pass


def _reserved(key: str) -> str:
    return f"Unable to reserve cache with key {key}, another job may be creating this cache."
