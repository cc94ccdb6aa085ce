"""The one way runs reach their coordinator: ``enqueue_run(run)``.

It enqueues the Django task ``execute_run_task`` with the configured ``TASKS``
backend: django-tasks-db, whose rows the server's embedded pool claims. The run's
jobs then go where the launcher of ``execute_run`` sends them. The questions the
rest of the server asks about queued runs (is this run queued? which tasks were
running when the server stopped?) are answered here, so no other module reads the
task tables.
"""

from __future__ import annotations

import re
from typing import Any

from django_tasks import task

from conveyor.server.runs.models import Run


@task()
def execute_run_task(run_id: int, resume: bool = False) -> str:
    """Run one Run with the engine (``resume``: go on with one a stopped server of this
    data directory was coordinating); returns its final status."""
    from conveyor.server.runs.execute import execute_run

    return execute_run(run_id, resume=resume)


def enqueue_run(run: Run, resume: bool = False) -> str:
    """Queue ``run`` for a coordinator; returns the task result id."""
    result = (
        execute_run_task.enqueue(run.id, resume=True)
        if resume
        else execute_run_task.enqueue(run.id)
    )
    return str(result.id)


def _run_tasks() -> Any:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path=execute_run_task.module_path)


def _run_id(args_kwargs: dict[str, Any]) -> int | None:
    args = args_kwargs.get("args") or [None]
    return args[0] if isinstance(args[0], int) else None


def run_is_enqueued(run_id: int) -> bool:
    """True while a task for ``run_id`` waits for a worker or runs."""
    return (
        _run_tasks().filter(status__in=("READY", "RUNNING"), args_kwargs__args__0=run_id).exists()
    )


def enqueued_run_ids() -> set[int]:
    """The runs whose task waits for a worker or runs (after ``fail_running_tasks``: on
    another server sharing the database)."""
    tasks = _run_tasks().filter(status__in=("READY", "RUNNING"))
    return {
        run_id
        for run_id in map(_run_id, tasks.values_list("args_kwargs", flat=True))
        if run_id is not None
    }


def _claimed_by_server(worker_ids: list[str], server_id: str | None) -> bool:
    """Whether the worker that claimed a task last was ``server_id``'s (one of its
    embedded workers, or one recorded before worker ids named their server)."""
    from conveyor.server.dispatch.embedded import worker_id_prefix

    if server_id is None or not worker_ids:
        return True
    last = str(worker_ids[-1])
    return (
        last.startswith(worker_id_prefix(server_id))
        or re.fullmatch(r"embedded-[0-9a-f]{8}-\d+", last) is not None
    )


def fail_running_tasks(
    error: BaseException, keep: set[int] | frozenset[int], server_id: str | None = None
) -> list[int]:
    """Mark failed the run tasks recorded as running, except those of the runs ``keep``
    (still alive elsewhere) and, given ``server_id``, those another server's workers
    claimed; returns the run ids whose tasks it failed."""
    failed = []
    for result in _run_tasks().filter(status="RUNNING").select_for_update():
        run_id = _run_id(result.args_kwargs)
        if run_id in keep or not _claimed_by_server(result.worker_ids, server_id):
            continue
        result.set_failed(error)
        if run_id is not None:
            failed.append(run_id)
    return failed
