"""Public entry points: a workflow file or an action directory to a validated model.

Every function raises ``WorkflowInvalid`` carrying every problem found, each at
``file:line:column``. PyYAML and the parser are imported by the functions that
parse: a workflow read back from the cache (``workflow/cache.py``) needs neither.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from conveyor.workflow.errors import Position, Problem, WorkflowInvalid
from conveyor.workflow.limits import MAX_SOURCE_BYTES

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    import yaml

    from conveyor.workflow.model import CompositeAction, Workflow
    from conveyor.workflow.parse_base import Checker

    T = TypeVar("T")

ACTION_FILES = ("action.yml", "action.yaml")


def load_workflow(
    path: str | os.PathLike[str],
    display_path: str | None = None,
    cache_dir: str | None = None,
) -> Workflow:
    """Read and validate a workflow file; messages name ``display_path`` (default: ``path``).

    With ``cache_dir``, a file parsed before (same bytes, same name, same Conveyor) is
    read back from there instead of parsed again, and a newly parsed valid one is kept.
    """
    shown = display_path if display_path is not None else os.fspath(path)
    data = _read(path, shown)
    if cache_dir is None:
        return parse_workflow(data, shown)
    from conveyor.workflow import cache

    key = cache.entry_key(data, shown)
    entry = cache.entry_path(cache_dir, path)
    workflow = cache.read_entry(entry, key)
    if workflow is None:
        workflow = parse_workflow(data, shown)  # a file with problems raises: never kept
        cache.write_entry(entry, key, workflow)
    return workflow


def parse_workflow(text: str | bytes, path: str) -> Workflow:
    """Validate workflow text; ``path`` is the name used in the model and in messages."""
    from conveyor.workflow.parse import parse_document

    workflow = _parse(text, path, parse_document)
    workflow.source = text if isinstance(text, str) else text.decode("utf-8", "replace")
    return workflow


def load_action(
    action_dir: str | os.PathLike[str],
    display_path: str | None = None,
    within: str | None = None,
) -> CompositeAction:
    """Read ``action.yml`` (or ``action.yaml``) of a local composite action.

    ``display_path`` names the directory in messages (e.g. ``./.github/actions/x``).
    ``within``: the file read must really lie in this directory (checked on the open
    file, so a link swapped in after an earlier check cannot point it elsewhere).
    """
    shown_dir = display_path if display_path is not None else os.fspath(action_dir)
    for name in ACTION_FILES:
        candidate = os.path.join(action_dir, name)
        if os.path.isfile(candidate):
            from conveyor.workflow.parse_action import parse_action_document

            shown = f"{shown_dir.rstrip('/')}/{name}"
            return _parse(_read(candidate, shown, within), shown, parse_action_document)
    raise WorkflowInvalid(
        [
            Problem(
                Position(shown_dir, 1, 1),
                f"no action.yml or action.yaml in {shown_dir} (is it checked out?)",
            )
        ]
    )


def _read(path: str | os.PathLike[str], shown: str, within: str | None = None) -> bytes:
    try:
        # Non-blocking: a FIFO put in place of the file must not hang the reader.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        reason = error.strerror or str(error)
        raise WorkflowInvalid(
            [Problem(Position(shown, 1, 1), f"cannot read file: {reason}")]
        ) from None
    with os.fdopen(fd, "rb") as handle:
        problem = _not_plain_file(fd, within)
        if problem:
            raise WorkflowInvalid([Problem(Position(shown, 1, 1), problem)])
        os.set_blocking(fd, True)
        # One byte more than allowed is enough to know the file is too large.
        return handle.read(MAX_SOURCE_BYTES + 1)


def _not_plain_file(fd: int, within: str | None) -> str:
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        return "cannot read file: not a regular file"
    if within is not None:
        opened = os.path.realpath(f"/proc/self/fd/{fd}")
        root = os.path.realpath(within)
        if os.path.exists(f"/proc/self/fd/{fd}") and os.path.commonpath([opened, root]) != root:
            return f"refused: the file resolves to {opened}, outside {root}"
    return ""


def _parse(text: str | bytes, path: str, build: Callable[[Checker, yaml.Node], T]) -> T:
    from conveyor.workflow.parse_base import Checker
    from conveyor.workflow.yamlsource import compose, decode

    source = decode(text, path)
    root = compose(source)
    checker = Checker(source)
    result = build(checker, root)
    if checker.problems:
        raise WorkflowInvalid(_unique(checker.problems))
    return result


def _unique(problems: list[Problem]) -> list[Problem]:
    """Aliased YAML nodes are read once per use; report each problem once."""
    return list(dict.fromkeys(problems))


def check_local_actions(workflow: Workflow, root: str | os.PathLike[str]) -> list[Problem]:
    """A problem at each ``uses: ./path`` whose directory under ``root`` has no action file.

    Only callers that know the repository root can check this (the CLI); the run
    checks again where the steps really run (``--clean`` runs in a checkout of HEAD).
    """
    problems: list[Problem] = []
    for job in workflow.jobs.values():
        for step in job.steps:
            if step.uses is None or not step.uses.startswith("./"):
                continue
            directory = os.path.join(root, step.uses)
            if any(os.path.isfile(os.path.join(directory, name)) for name in ACTION_FILES):
                continue
            where = step.positions.get("uses", step.position)
            problems.append(
                Problem(
                    where,
                    f"uses: {step.uses}: no action.yml or action.yaml in {step.uses} "
                    "(a local action's path is relative to the repository root)",
                )
            )
    return problems


def check_local_calls(workflow: Workflow, root: str | os.PathLike[str]) -> list[Problem]:
    """Problems of the reusable workflows ``workflow`` calls in its own repository, and
    of what they call in turn: a missing or invalid file, names the call passes that
    the workflow does not take (or leaves out), a cycle, nesting beyond GitHub's limit.

    A called workflow of another repository is fetched, and so checked, at run time.
    """
    if not any(job.uses for job in workflow.jobs.values()):
        return []
    from conveyor.workflow import calls  # only for workflows that call others (start-up)

    problems: list[Problem] = []
    parsed: dict[str, Workflow | None] = {}
    # A file is walked again only when reached deeper than before (the level limit
    # depends on the depth): at most MAX_LEVELS walks a file.
    deepest: dict[str, int] = {}
    pending = [(workflow, (os.path.normpath(workflow.path),))]
    while pending:
        caller, chain = pending.pop()
        for job in caller.jobs.values():
            reference = calls.parse_reference(job.uses or "")
            if reference is None or not reference.local:
                continue
            where = job.positions.get("uses", job.position)
            shown = reference.path
            if shown in chain:
                path = " → ".join([*chain, shown])
                problems.append(
                    Problem(where, f"job '{job.id}' calls {job.uses}, which calls it back ({path})")
                )
                continue
            if len(chain) >= calls.MAX_LEVELS:
                problems.append(
                    Problem(
                        where,
                        f"job '{job.id}' calls {job.uses}, beyond GitHub's limit of "
                        f"{calls.MAX_LEVELS} levels of workflows",
                    )
                )
                continue
            if shown not in parsed:
                parsed[shown] = _called_workflow(os.fspath(root), shown, where, problems)
            called = parsed[shown]
            if called is None:
                continue
            problems.extend(calls.argument_problems(job, called, shown))
            below = (*chain, shown)
            if len(below) > deepest.get(shown, 0):
                deepest[shown] = len(below)
                pending.append((called, below))
    return list(dict.fromkeys(problems))


def _called_workflow(
    root: str, shown: str, where: Position, problems: list[Problem]
) -> Workflow | None:
    path = os.path.join(root, shown)
    if not os.path.isfile(path):
        problems.append(
            Problem(
                where,
                f"uses: ./{shown}: no such file (a local reusable workflow's path is "
                "relative to the repository root)",
            )
        )
        return None
    from conveyor.workflow.parse import parse_document

    try:
        return _parse(_read(path, shown, within=root), shown, parse_document)
    except WorkflowInvalid as error:
        # Said at the call: the file's own problems are listed with it when it is checked.
        found = "; ".join(str(problem) for problem in error.problems)
        problems.append(Problem(where, f"uses: ./{shown} is invalid: {found}"))
        return None
