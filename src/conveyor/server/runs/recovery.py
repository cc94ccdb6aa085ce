"""Start-up repair after a server that was killed: no run stays ``running`` forever.

Runs this data directory's server (``settings.SERVER_ID``) left ``running``, and
older runs that recorded no server, are marked ``failure`` with ``STOPPED_REASON``,
and so are the jobs and steps that were running; those that never started are
``skipped``. Their logs stay. The task results those runs were claimed by are
marked failed. Another server's running runs are left alone. Runs still ``queued``
whose task is gone are enqueued again
(one per concurrency group, as the group allows).

Several servers may share one PostgreSQL database and start at once: their
recoveries take turns (an advisory lock for the transaction), and the rows one
repairs are locked (``SELECT ... FOR UPDATE``), so a run is failed and told once,
and an orphaned queued run is enqueued once, by whichever server comes first; the
next finds its task already there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conveyor.server import database
from conveyor.server.dispatch.mode import jobs_run_on_workers
from conveyor.server.runs import live, signals
from conveyor.server.runs.environments import end_deployments_of_runs
from conveyor.server.runs.models import DeploymentStatus, Job, Run, Status, Step

logger = logging.getLogger("conveyor.server.runs")

STOPPED_REASON = "the server stopped while this run was in progress"
# The advisory lock recoveries take turns on (see conveyor.server.database).
RECOVERY_LOCK_KEY = database.STARTUP_LOCK_KEY + 1


class ServerStopped(Exception):
    """Recorded as the error of a task whose server stopped while it ran."""


@dataclass
class Recovered:
    failed_runs: list[int] = field(default_factory=list)
    requeued_runs: list[int] = field(default_factory=list)
    resumed_runs: list[int] = field(default_factory=list)


def recover(
    exclude_run_ids: frozenset[int] = frozenset(), server_id: str | None = None
) -> Recovered:
    """Repair what a stopped server left behind. Call once at start-up, before the workers.

    ``server_id``: the server whose runs are repaired, this one (``settings.SERVER_ID``)
    unless told."""
    from conveyor.server.dispatch.runs import enqueue_run, enqueued_run_ids, fail_running_tasks

    server_id = server_id or settings.SERVER_ID
    outcome = Recovered()
    now = timezone.now()
    with transaction.atomic():
        database.lock_in_transaction(RECOVERY_LOCK_KEY)
        running = Run.objects.filter(status=Status.RUNNING).exclude(pk__in=exclude_run_ids)
        # Another server sharing the database may be running its own runs right now:
        # only this data directory's runs (and older ones that recorded no server) are
        # known to have lost their server. Locked until the end of the transaction, in
        # the order of their ids, so nothing else (a cancel) changes them meanwhile.
        stale = list(
            running.filter(claimed_by__in=(server_id, ""))
            .select_for_update()
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        others = set(running.exclude(pk__in=stale).values_list("pk", flat=True))
        if stale and jobs_run_on_workers():
            # No job of theirs ran in the stopped process: the workers went on with them,
            # and a coordinator picks each run up where it was.
            outcome.resumed_runs, stale = stale, []
            for run_id in outcome.resumed_runs:
                enqueue_run(Run(pk=run_id), resume=True)
        if stale:
            # Only what was running failed; what never started did not run (as the
            # engine records the steps after a failure), so it is skipped, not failed.
            Step.objects.filter(job__run_id__in=stale, status=Status.RUNNING).update(
                status=Status.FAILURE, reason=STOPPED_REASON, finished_at=now
            )
            Step.objects.filter(job__run_id__in=stale, status=Status.QUEUED).update(
                status=Status.SKIPPED, finished_at=now
            )
            Job.objects.filter(
                run_id__in=stale, status__in=(Status.RUNNING, Status.WAITING)
            ).update(status=Status.FAILURE, reason=STOPPED_REASON, finished_at=now)
            Job.objects.filter(run_id__in=stale, status=Status.QUEUED).update(
                status=Status.SKIPPED, finished_at=now
            )
            Run.objects.filter(pk__in=stale).update(
                status=Status.FAILURE, reason=STOPPED_REASON, finished_at=now
            )
            # Their deployments end too: the environments they held or queued for are free.
            end_deployments_of_runs(stale, DeploymentStatus.FAILURE, STOPPED_REASON)
            _settle_tables(stale)
            _end_leftover_processes(stale)
        outcome.failed_runs = stale
        fail_running_tasks(
            ServerStopped(STOPPED_REASON),
            keep=set(exclude_run_ids) | others,
            server_id=server_id,
        )
        waiting = enqueued_run_ids()
        groups_started: set[tuple[int, str]] = set()
        for run in Run.objects.filter(status=Status.QUEUED, cancel_requested=False).order_by(
            "created_at", "pk"
        ):
            if run.pk in waiting:
                continue
            if run.concurrency_group:
                key = (run.repository_id, run.concurrency_group)
                if (
                    key in groups_started
                    or Run.objects.filter(
                        repository_id=run.repository_id,
                        concurrency_group=run.concurrency_group,
                        status=Status.RUNNING,
                    )
                    .exclude(pk__in=exclude_run_ids)
                    .exists()
                ):
                    continue
                groups_started.add(key)
            outcome.requeued_runs.append(run.pk)
            # In the transaction, not after it: a server recovering next must find the
            # task there when it gets the lock.
            enqueue_run(run)
    for run_id in outcome.failed_runs + outcome.requeued_runs + outcome.resumed_runs:
        live.publish(run_id)
    for run in Run.objects.filter(pk__in=outcome.failed_runs):
        signals.tell(signals.run_finished, run=run)
    return outcome


def _settle_tables(run_ids: list[int]) -> None:
    """The stopped runs' execution tables and pipeline status say where they stopped."""
    from conveyor.engine.events import Status as EngineStatus
    from conveyor.engine.pipeline_status import PipelineTracker

    for run in Run.objects.filter(pk__in=run_ids).exclude(execution={}).only("pk", "execution"):
        try:
            tracker = PipelineTracker.from_snapshot(run.execution)
        except ValueError:
            continue  # written by another version: leave it as it is
        tracker.settle(EngineStatus.FAILURE, STOPPED_REASON)
        Run.objects.filter(pk=run.pk).update(
            pipeline_status=tracker.pipeline_status, execution=tracker.snapshot()
        )


def _end_leftover_processes(run_ids: list[int]) -> None:
    """Steps run in sessions of their own, so they outlive a killed server: end those
    of the runs just marked failed, found by the mark every step of a run carries."""
    from conveyor.executors.process_tree import processes_with_env, terminate
    from conveyor.server.runs.execute import RUN_MARK_VARIABLE, run_mark

    leftovers = processes_with_env(RUN_MARK_VARIABLE, {run_mark(run_id) for run_id in run_ids})
    if leftovers:
        logger.warning("ending %d process(es) left by stopped runs", len(leftovers))
        terminate(leftovers, grace=2.5, kill_wait=2.0)
