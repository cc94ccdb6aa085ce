"""Reusable workflows at run time: finding the called file, its inputs, secrets and outputs.

A job with ``uses:`` does not run steps: the workflow it names is loaded (from the
run's own files, or fetched from its repository like a remote action), the call's
``with:`` is checked against the typed ``on.workflow_call.inputs`` and its
``secrets:`` decide which secrets the called jobs see, then the scheduler runs
the called workflow's jobs as jobs of this run (``caller / job``). When they are
done, ``on.workflow_call.outputs`` (over the ``jobs`` context) become the calling
job's outputs.

As on GitHub: the ``github`` context stays the caller's; the caller's ``env`` is
not passed down; a called workflow sees only the secrets passed to it (all of the
caller's with ``secrets: inherit``), plus ``GITHUB_TOKEN``; a local reference in a
called workflow means the file in that workflow's own repository at the same commit.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from conveyor.engine import evaluation
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.options import RunOptions, default_store_dir
from conveyor.engine.repository_files import RepositoryFileError, read_repository_file
from conveyor.executors.base import Cancellation
from conveyor.records import record
from conveyor.workflow.errors import Position, WorkflowInvalid
from conveyor.workflow.model import DispatchInput, Job, Workflow

if TYPE_CHECKING:
    from conveyor.workflow.calls import CallReference


@record
class WorkflowSource:
    """The repository files a workflow came from; its local calls are read there too."""

    root: str  # a directory holding the repository's files
    repository: str | None = None  # owner/repo when fetched; None: the run's own
    ref: str | None = None  # as the reference wrote it
    sha: str | None = None


@record
class CallFrame:
    """A workflow whose jobs run in this run: the run's own, or one a job called."""

    workflow: Workflow
    source: WorkflowSource
    inputs: dict[str, Any]
    secrets: dict[str, str]
    level: int = 1  # 1: the run's own workflow; each call one more
    chain: tuple[str, ...] = ()  # who calls whom down to this workflow, for cycles
    key_prefix: str = ""  # "caller / " for the called jobs' keys
    name_prefix: str = ""  # "Caller name / " for their display names
    top_job_id: str | None = None  # the run's job this frame descends from
    order: tuple[int, ...] = ()  # where its jobs sort among the run's
    cancellation: Cancellation | None = None  # the call's (a matrix caller's fail-fast)

    @property
    def cancelled(self) -> bool:
        return self.cancellation is not None and self.cancellation.cancelled


@record
class CalledWorkflow:
    workflow: Workflow
    source: WorkflowSource
    identity: str  # the same file at the same commit has the same identity
    shown: str  # how messages name it: as the reference wrote it


def workflow_identity(workflow: Workflow, workspace: str) -> str:
    """The run's own workflow as a local call would name it (to tell a call of itself)."""
    path = workflow.path
    if os.path.isabs(path):
        path = os.path.relpath(path, workspace)
    return os.path.normpath(path)


class CallLoader:
    """Loads each called workflow once a run, and counts them against GitHub's limit."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        # (repository files, reference) -> the workflow, or why it cannot be had
        self._loaded: dict[tuple[str, str], CalledWorkflow | str] = {}
        self._identities: set[str] = set()
        # (owner/repo, ref) -> (files, sha) or why not: fetched once a run
        self._trees: dict[tuple[str, str], tuple[str, str] | str] = {}
        self._lock = threading.Lock()

    def preload(self, frame: CallFrame, job_ids: list[str]) -> None:
        """Load what ``job_ids`` of ``frame`` call, and what those call, before jobs run:
        a local workflow is then read as the run began (GitHub: the caller's commit).
        Problems are kept and reported on the calling job when it is released."""
        if not any(frame.workflow.jobs[job_id].uses for job_id in job_ids):
            return  # nothing is called: what follows is not even imported (start-up)
        from conveyor.workflow import calls

        pending = [(frame.workflow, frame.source, frame.chain, job_ids)]
        while pending:
            workflow, source, chain, ids = pending.pop()
            for job_id in ids:
                job = workflow.jobs[job_id]
                reference = calls.parse_reference(job.uses or "")
                if reference is None:
                    continue
                called = self._load(reference, source)
                if isinstance(called, str):
                    continue
                if called.identity in chain or len(chain) >= calls.MAX_LEVELS:
                    continue
                chain_below = (*chain, called.identity)
                pending.append(
                    (called.workflow, called.source, chain_below, list(called.workflow.jobs))
                )

    def open(self, job: Job, frame: CallFrame) -> CalledWorkflow:
        """The workflow ``job`` of ``frame`` calls, checked for cycles, nesting and names."""
        from conveyor.workflow import calls

        where = job.positions.get("uses", job.position)
        uses = job.uses or ""
        reference = calls.parse_reference(uses)
        if reference is None:
            raise EngineProblem(f"{where}: {uses!r} is not a reusable workflow reference")
        called = self._load(reference, frame.source)
        if isinstance(called, str):
            raise EngineProblem(f"{where}: job '{job.id}' calls {uses}: {called}")
        if called.identity in frame.chain:
            path = " → ".join([*frame.chain, called.identity])
            raise EngineProblem(
                f"{where}: job '{job.id}' calls {uses}, which is already running above it "
                f"({path}); a workflow cannot call itself"
            )
        if frame.level + 1 > calls.MAX_LEVELS:
            raise EngineProblem(
                f"{where}: job '{job.id}' calls {uses}, one level more than GitHub allows: "
                f"at most {calls.MAX_LEVELS} levels of workflows (the run's workflow and "
                f"{calls.MAX_LEVELS - 1} levels of reusable workflows)"
            )
        problems = calls.argument_problems(job, called.workflow, called.shown)
        if problems:
            raise EngineProblem("; ".join(str(problem) for problem in problems))
        return called

    def _load(self, reference: CallReference, source: WorkflowSource) -> CalledWorkflow | str:
        key = (source.root, str(reference))
        with self._lock:
            found = self._loaded.get(key)
            if found is None:
                found = self._loaded[key] = self._read(reference, source)
            return found

    def _read(self, reference: CallReference, source: WorkflowSource) -> CalledWorkflow | str:
        from conveyor.workflow import calls

        try:
            if reference.local:
                root, repository, ref, sha = source.root, source.repository, source.ref, source.sha
            else:
                repository, ref = reference.repository, reference.ref
                assert repository is not None and ref is not None
                tree = self._tree(repository, ref)
                if isinstance(tree, str):
                    return tree
                root, sha = tree
            if repository is None:
                identity = shown = reference.path
            else:
                identity = f"{repository}/{reference.path}@{sha}"
                shown = f"{repository}/{reference.path}@{ref}"
            text = read_repository_file(root, reference.path, _max_bytes())
            from conveyor.workflow.load import parse_workflow

            workflow = parse_workflow(text, shown)
        except RepositoryFileError as error:
            return str(error)
        except WorkflowInvalid as error:
            return f"the called workflow is invalid: {error}".replace("\n", "; ")
        if identity not in self._identities and len(self._identities) >= calls.MAX_CALLED_WORKFLOWS:
            return (
                f"more than {calls.MAX_CALLED_WORKFLOWS} distinct reusable workflows "
                "would be called from one workflow file (GitHub's limit)"
            )
        self._identities.add(identity)
        called_source = WorkflowSource(root, repository, ref, sha)
        return CalledWorkflow(workflow, called_source, identity, shown)

    def _tree(self, repository: str, ref: str) -> tuple[str, str] | str:
        """Where ``repository`` at ``ref`` is in the store, and its commit; or why not."""
        key = (repository, ref)
        if key not in self._trees:
            from conveyor.actions.fetch import ActionStore, FetchError, fetch_tree

            store_dir = self.options.store_dir or default_store_dir(self.options.base_env)
            store = ActionStore(os.path.join(store_dir, "actions"), self.options.actions_url)
            try:
                tree = fetch_tree(store, repository, ref)
                self._trees[key] = (tree.directory, tree.sha)
            except FetchError as error:
                self._trees[key] = f"cannot fetch it: {error}"
        return self._trees[key]


def _max_bytes() -> int:
    from conveyor.workflow.yamlsource import MAX_SOURCE_BYTES

    return MAX_SOURCE_BYTES


# -- what a call passes -------------------------------------------------------------


def call_inputs(job: Job, called: CalledWorkflow, contexts: dict[str, Any]) -> dict[str, Any]:
    """The called workflow's ``inputs`` context: ``with:`` evaluated and type-checked,
    defaults for the rest (GitHub's ``false``, ``0`` or ``""`` when none is given)."""
    call = called.workflow.on.call
    assert call is not None
    where = job.positions.get("with", job.positions.get("uses", job.position))
    if any("${{" in name for name in job.with_):
        given = evaluation.value(job.with_, contexts, where, "with")
    else:  # each value on its own, so that an error points at it
        given = {
            name: evaluation.value(
                raw, contexts, job.positions.get(f"with.{name}", where), f"with.{name}"
            )
            for name, raw in job.with_.items()
        }
    if not isinstance(given, dict):
        raise EngineProblem(f"{where}: with: expected a mapping of inputs")
    inputs: dict[str, Any] = {}
    for name, value in given.items():
        spec = call.inputs.get(name)
        at = job.positions.get(f"with.{name}", where)
        if spec is None:
            known = ", ".join(call.inputs) or "none"
            raise EngineProblem(
                f"{at}: input '{name}' is not defined in {called.shown} (its inputs: {known})"
            )
        inputs[name] = _typed(value, spec, at, called.shown)
    for name, spec in call.inputs.items():
        if name in inputs:
            continue
        if spec.required:
            raise EngineProblem(
                f"{where}: {called.shown} requires input '{name}', "
                f"which job '{job.id}' does not pass"
            )
        default = spec.default
        if default is None:
            inputs[name] = {"boolean": False, "number": 0}.get(spec.type, "")
        else:
            default_at = called.workflow.position
            value = evaluation.value(default, contexts, default_at, f"inputs.{name}.default")
            inputs[name] = _typed(value, spec, default_at, called.shown)
    return inputs


def _typed(value: Any, spec: DispatchInput, where: Position, shown: str) -> Any:
    what = f"input '{spec.name}' of {shown}"
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        raise EngineProblem(f"{where}: {what} is a boolean; got {_described(value)}")
    if spec.type == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise EngineProblem(f"{where}: {what} is a number; got {_described(value)}")
    if isinstance(value, dict | list):
        raise EngineProblem(f"{where}: {what} is a string; got {_described(value)}")
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    from conveyor.workflow.expressions import to_string

    return to_string(value)


def _described(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value:g}"
    return f"a {'mapping' if isinstance(value, dict) else 'list'}"


def call_secrets(
    job: Job, called: CalledWorkflow, contexts: dict[str, Any], available: dict[str, str]
) -> dict[str, str]:
    """The ``secrets`` context of the called workflow: what ``secrets:`` passes (every
    one of ``available`` with ``inherit``), and ``GITHUB_TOKEN``, never any other."""
    if job.secrets == "inherit":
        return dict(available)
    passed: dict[str, str] = {}
    if "GITHUB_TOKEN" in available:
        passed["GITHUB_TOKEN"] = available["GITHUB_TOKEN"]
    for name, template in (job.secrets or {}).items():
        at = job.positions.get(f"secrets.{name}", job.position)
        passed[name] = evaluation.string(template, contexts, at, f"secrets.{name}")
    return passed


def call_outputs(
    called: Workflow, jobs: dict[str, dict[str, Any]], contexts: dict[str, Any]
) -> dict[str, str]:
    """``on.workflow_call.outputs`` evaluated over ``jobs``, the called jobs' ``result`` and
    ``outputs`` by job id (the ``jobs`` context)."""
    call = called.on.call
    if call is None or not call.outputs:
        return {}
    scope = {**contexts, "jobs": jobs}
    return evaluation.string_map(call.outputs, scope, call.positions, called.position, "outputs")
