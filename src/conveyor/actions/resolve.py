"""What a ``uses:`` reference names, and where its files are.

- ``owner/name[/path]@ref`` whose ``owner/name`` is a built-in: run natively;
- ``./path``: a local action in the workspace, a composite, JavaScript or Docker
  action by its ``action.yml``'s ``runs.using``;
- ``owner/repo[/path]@ref``: the repository fetched into the action store
  (``actions/fetch.py``), then the same three kinds;
- ``docker://image``: a Docker image.

Whether a reference can be fetched, and what it is, is only known here, at run
time (or by ``conveyor run --list-actions``): validation accepts any well-formed one.
"""

from __future__ import annotations

import os
import posixpath
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field

from conveyor.actions.fetch import ActionStore, FetchError, fetch_tree, split_reference
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import ACTION_FILES, load_action
from conveyor.workflow.model import JAVASCRIPT_RUNTIMES, CompositeAction

BUILT_IN = "built-in"
COMPOSITE = "composite"
JAVASCRIPT = "javascript"
DOCKER = "docker"
REUSABLE = "reusable"


class ResolveError(Exception):
    """The reference names nothing that can run; the message says why (without the place)."""


@dataclass(frozen=True)
class Resolved:
    uses: str
    kind: str  # one of the names above
    action: CompositeAction | None = None  # its action.yml, read
    # The action's directory on this host: in the workspace, or in the action store
    # (never to be shown to a job: see job_copy.py).
    directory: str = ""
    tree: str = ""  # a fetched repository's whole tree in the store
    repository: str = ""  # owner/repo of a fetched action
    path: str = ""  # the action's directory inside that repository
    ref: str = ""
    sha: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def kind_text(self) -> str:
        """The kind as people say it: ``JavaScript (node20)``, ``composite``, ``Docker``."""
        if self.kind == JAVASCRIPT and self.action is not None:
            return f"JavaScript ({self.action.using})"
        return {DOCKER: "Docker", REUSABLE: "reusable workflow"}.get(self.kind, self.kind)


def action_store(store_dir: str, actions_url: str) -> ActionStore:
    """The store of fetched actions inside Conveyor's store directory."""
    return ActionStore(os.path.join(store_dir, "actions"), actions_url)


def is_local(uses: str) -> bool:
    return uses.startswith(("./", "../")) or uses in (".", "..")


def built_in_name(uses: str) -> str:
    """``owner/name`` of ``owner/name/path@ref``, lower case."""
    without_ref = uses.split("@", 1)[0]
    return "/".join(without_ref.split("/")[:2]).lower()


def resolve(
    uses: str, workspace: str, store: ActionStore, built_in: Collection[str] = ()
) -> Resolved:
    """What ``uses`` names (fetching a remote action); raises ResolveError."""
    uses = uses.strip()
    if is_local(uses):
        return resolve_local(uses, workspace)
    if uses.startswith("docker://"):
        return Resolved(uses, DOCKER)
    if built_in_name(uses) in built_in:
        return Resolved(uses, BUILT_IN)
    return resolve_remote(uses, store)


# What each remote reference of a run resolved to: a tag or a branch means one commit
# for the whole run (GitHub resolves each action once per job), and is fetched once.
_RUN_MEMORY_SIZE = 512
_run_memory: OrderedDict[tuple[str, str, str, str], Resolved] = OrderedDict()
_run_memory_lock = threading.Lock()


def resolve_in_run(
    run_id: str, uses: str, workspace: str, store: ActionStore, built_in: Collection[str] = ()
) -> Resolved:
    """``resolve``, remembering remote references for the rest of run ``run_id``.

    Local actions are read again each time: a step may change the workspace.
    """
    uses = uses.strip()
    if is_local(uses) or uses.startswith("docker://"):
        return resolve(uses, workspace, store, built_in)
    key = (run_id, store.root, store.base_url, uses)
    with _run_memory_lock:
        known = _run_memory.get(key)
        if known is not None:
            _run_memory.move_to_end(key)
            return known
    resolved = resolve(uses, workspace, store, built_in)
    with _run_memory_lock:
        _run_memory[key] = resolved
        while len(_run_memory) > _RUN_MEMORY_SIZE:
            _run_memory.popitem(last=False)
    return resolved


def resolve_local(uses: str, workspace: str) -> Resolved:
    directory = os.path.normpath(os.path.join(workspace, uses))
    escape = _leaves_workspace(workspace, directory)
    if escape is not None:
        raise ResolveError(
            f"refused: {escape}, outside the workspace {workspace} "
            "(a local action must be inside the repository)"
        )
    if not any(os.path.isfile(os.path.join(directory, name)) for name in ACTION_FILES):
        raise ResolveError(
            f"no action.yml or action.yaml in {directory} "
            "(paths in uses: are relative to the workspace)"
        )
    action = _load(directory, uses, workspace)
    return Resolved(uses, _kind(action), action, directory)


def resolve_remote(uses: str, store: ActionStore) -> Resolved:
    repository, path, ref = split_reference(uses)
    path = posixpath.normpath(path) if path else ""
    if path.startswith(("../", "/")) or path == "..":
        raise ResolveError(f"the path {path!r} leaves the repository {repository}")
    try:
        fetched = fetch_tree(store, repository, ref)
    except FetchError as error:
        raise ResolveError(f"cannot fetch the action: {error}") from None
    except OSError as error:  # the store itself: not writable, disk full, ...
        raise ResolveError(f"cannot keep the action in the store {store.root}: {error}") from None
    directory = os.path.join(fetched.directory, path) if path else fetched.directory
    where = f"{repository}@{ref} ({fetched.sha[:12]})"
    if not any(os.path.isfile(os.path.join(directory, name)) for name in ACTION_FILES):
        inside = f"in {path}" if path else "at its root"
        raise ResolveError(f"{where} has no action.yml or action.yaml {inside}")
    shown = f"{repository}/{path}@{ref}" if path else f"{repository}@{ref}"
    # `within`: a link in the repository must not make Conveyor read a file of the host.
    action = _load(directory, shown, fetched.directory)
    return Resolved(
        uses,
        _kind(action),
        action,
        directory,
        tree=fetched.directory,
        repository=repository,
        path=path,
        ref=ref,
        sha=fetched.sha,
        warnings=list(fetched.warnings),
    )


def _load(directory: str, shown: str, within: str) -> CompositeAction:
    try:
        return load_action(directory, display_path=shown, within=within)
    except WorkflowInvalid as error:
        problems = "; ".join(str(problem) for problem in error.problems)
        raise ResolveError(f"the action is invalid: {problems}") from None
    except OSError as error:
        raise ResolveError(f"cannot read the action: {error}") from None


def _kind(action: CompositeAction) -> str:
    if action.using in JAVASCRIPT_RUNTIMES:
        return JAVASCRIPT
    if action.using == "docker":
        return DOCKER
    return COMPOSITE


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
