"""``conveyor run --list-actions``: what each ``uses:`` of a run is, before anything runs.

One table a workflow: the job, the step, the reference, its kind (built-in,
composite, JavaScript (nodeNN), Docker, reusable workflow) and where it resolves (a
fetched action's commit, a local action's path). Remote actions are fetched into the
action store to know that, as the run would; the actions inside a composite action
are listed under it. A reference that cannot be resolved says why in its row.
"""

from __future__ import annotations

import os
import sys

from conveyor.actions import BUILT_IN
from conveyor.actions.composite import MAX_DEPTH
from conveyor.actions.fetch import ActionStore, FetchError, fetch_tree, split_reference
from conveyor.actions.resolve import (
    COMPOSITE,
    DOCKER,
    Resolved,
    ResolveError,
    action_store,
    is_local,
    resolve_in_run,
)
from conveyor.cli import EXIT_OK
from conveyor.commands.selection import Selection
from conveyor.engine.options import default_store_dir
from conveyor.engine.runner import select_jobs
from conveyor.terminal.tables import table_width, text_table
from conveyor.workflow.model import Job, Step

HEADERS = ("Job", "Step", "Uses", "Kind", "Resolves to")


def list_actions(selection: Selection, jobs_only: list[str] | None, actions_url: str) -> int:
    store = action_store(default_store_dir(), actions_url)
    print(
        f"conveyor: resolving each uses: (fetching from {actions_url} into {store.root})",
        file=sys.stderr,
    )
    root = str(selection.root)
    for workflow in selection.chosen:
        only = [job for job in jobs_only if job in workflow.jobs] if jobs_only else None
        if jobs_only and not only:
            continue  # --job names jobs of another workflow
        rows: list[list[str]] = []
        for job_id in select_jobs(workflow, only):
            rows += _job_rows(workflow.jobs[job_id], root, store)
        print(f"\n{workflow.path}: {workflow.name}" if workflow.name else f"\n{workflow.path}")
        if rows:
            print(text_table(HEADERS, rows, table_width(sys.stdout)))
        else:
            print("(no uses: in the selected jobs)")
    return EXIT_OK


def _job_rows(job: Job, root: str, store: ActionStore) -> list[list[str]]:
    # A job that calls a reusable workflow (jobs.<id>.uses), once the parser has them.
    called = getattr(job, "uses", None)
    if isinstance(called, str) and called:
        return [[job.id, "", called, "reusable workflow", _workflow_place(called, store)]]
    rows: list[list[str]] = []
    for number, step in enumerate(job.steps, start=1):
        rows += _step_rows(job.id, _step_label(step, number), step, root, store, 0)
    return rows


def _step_rows(
    job_id: str, label: str, step: Step, root: str, store: ActionStore, depth: int
) -> list[list[str]]:
    if not step.uses:
        return []
    try:
        # As in a run, a reference used twice is fetched once.
        resolved = resolve_in_run(f"list-{os.getpid()}", step.uses, root, store, BUILT_IN)
    except ResolveError as error:
        return [[job_id, label, step.uses, "cannot be resolved", str(error)]]
    rows = [[job_id, label, step.uses, resolved.kind_text, _place(resolved, root)]]
    if resolved.kind == COMPOSITE and resolved.action is not None and depth < MAX_DEPTH:
        for number, inner in enumerate(resolved.action.steps, start=1):
            inner_label = f"{label} > {_step_label(inner, number)}"
            rows += _step_rows(job_id, inner_label, inner, root, store, depth + 1)
    return rows


def _step_label(step: Step, number: int) -> str:
    return f"{number} {step.name or step.id or ''}".rstrip()


def _place(resolved: Resolved, root: str) -> str:
    if not resolved.action and resolved.kind != DOCKER:  # a built-in
        return "built into Conveyor"
    if resolved.kind == DOCKER and not resolved.directory:
        return f"image {resolved.uses.removeprefix('docker://')}"
    if resolved.sha:
        return f"{resolved.repository}@{resolved.sha[:12]}"
    return os.path.relpath(resolved.directory, root)


def _workflow_place(called: str, store: ActionStore) -> str:
    if is_local(called):
        return called
    repository, _, ref = split_reference(called)
    try:
        return f"{repository}@{fetch_tree(store, repository, ref).sha[:12]}"
    except FetchError as error:
        return f"cannot be fetched: {error}"
