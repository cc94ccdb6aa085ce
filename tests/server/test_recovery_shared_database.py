"""Servers sharing one database start at once: each repairs only what it (or a server of
old, which recorded no id) left, and nothing is repaired twice.

Server A restarts after being killed while server C starts for the first time; server
B runs on. Their recoveries run at the same moment in two threads, each with its own
connection (on PostgreSQL in scripts/test's second pass, where this matters most).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from conveyor.server.dispatch.embedded import worker_id_prefix
from conveyor.server.dispatch.runs import execute_run_task
from conveyor.server.runs import signals
from conveyor.server.runs.models import Run
from conveyor.server.runs.recovery import STOPPED_REASON, Recovered, recover

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _run(repository: Any, number: int, status: str, claimed_by: str = "") -> Run:
    return Run.objects.create(
        repository=repository,
        number=number,
        workflow_path="w.yml",
        event="push",
        status=status,
        claimed_by=claimed_by,
    )


def _task(run: Run, status: str, worker: str | None) -> str:
    task = execute_run_task.enqueue(run.pk)
    DBTaskResult.objects.filter(pk=task.id).update(
        status=status, worker_ids=[worker] if worker else []
    )
    return str(task.id)


def _recover_together(*server_ids: str) -> list[Recovered]:
    start = threading.Barrier(len(server_ids))
    outcomes: dict[str, Recovered] = {}
    errors: list[BaseException] = []

    def one(server_id: str) -> None:
        try:
            start.wait(10)
            outcomes[server_id] = recover(server_id=server_id)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(server_id,)) for server_id in server_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return [outcomes[server_id] for server_id in server_ids]


def test_two_servers_starting_at_once_repair_each_run_once(repository):
    a_running = _run(repository, 1, "running", claimed_by="server-a")
    a_task = _task(a_running, "RUNNING", f"{worker_id_prefix('server-a')}0badcafe-0")
    legacy = _run(repository, 2, "running")  # claimed before runs recorded their server
    legacy_task = _task(legacy, "RUNNING", "embedded-1234abcd-1")
    b_running = _run(repository, 3, "running", claimed_by="server-b")
    b_task = _task(b_running, "RUNNING", f"{worker_id_prefix('server-b')}feedf00d-0")
    orphan = _run(repository, 4, "queued")  # its task was lost
    # Server B's worker has just claimed this one's task; the run is not running yet.
    b_claimed = _run(repository, 5, "queued")
    b_claimed_task = _task(b_claimed, "RUNNING", f"{worker_id_prefix('server-b')}feedf00d-1")
    told: Counter[int] = Counter()

    def count(sender: Any, run: Run, **kwargs: Any) -> None:
        told[run.pk] += 1

    signals.run_finished.connect(count, dispatch_uid="test-recovery-told")
    try:
        a, c = _recover_together("server-a", "server-c")
    finally:
        signals.run_finished.disconnect(dispatch_uid="test-recovery-told")

    assert sorted(a.failed_runs + c.failed_runs) == [a_running.pk, legacy.pk]
    assert a_running.pk in a.failed_runs  # only A knows its own runs
    assert sorted(a.requeued_runs + c.requeued_runs) == [orphan.pk]
    assert told == {a_running.pk: 1, legacy.pk: 1}
    statuses = dict(Run.objects.values_list("pk", "status"))
    assert statuses == {
        a_running.pk: "failure",
        legacy.pk: "failure",
        b_running.pk: "running",
        orphan.pk: "queued",
        b_claimed.pk: "queued",
    }
    assert Run.objects.get(pk=a_running.pk).reason == STOPPED_REASON
    tasks = {str(pk): status for pk, status in DBTaskResult.objects.values_list("pk", "status")}
    assert [tasks[a_task], tasks[legacy_task]] == ["FAILED", "FAILED"]
    assert [tasks[b_task], tasks[b_claimed_task]] == ["RUNNING", "RUNNING"]  # B's, alive
    ready = DBTaskResult.objects.filter(status="READY")
    assert [task.args_kwargs["args"] for task in ready] == [[orphan.pk]]


def test_a_lost_queued_run_is_enqueued_once_by_servers_starting_at_once(repository):
    # Nothing running to repair, so no row both would lock: only the turns they take.
    orphans = [_run(repository, number, "queued") for number in (1, 2, 3)]
    outcomes = _recover_together("server-a", "server-c", "server-d")
    requeued = sorted(run_id for outcome in outcomes for run_id in outcome.requeued_runs)
    assert requeued == sorted(run.pk for run in orphans)
    ready = DBTaskResult.objects.filter(status="READY")
    assert sorted(task.args_kwargs["args"][0] for task in ready) == requeued
