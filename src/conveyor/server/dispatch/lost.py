"""Finding workers that died mid-job: a server thread that marks their attempts lost.

A running attempt whose last heartbeat (an events batch, or the worker's own
heartbeat naming it) is older than ``CONVEYOR_WORKER_LOST_SECONDS`` is marked ``lost``;
its launcher, when this process coordinates the run, then fails the job ("worker
lost: ...", its log kept up to the last line stored) or sends a new attempt when the
plan says it is safe to run again. The worker's later calls about the lost attempt
get 409. So a job is never ``running`` for longer than the bound plus one pass.

The same pass keeps the reason of jobs no worker can take up to date.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from conveyor.server.background import Background
from conveyor.server.dispatch import registry, routing
from conveyor.server.dispatch.models import DispatchStatus, JobDispatch
from conveyor.server.runs.environments import JobWaiting

logger = logging.getLogger("conveyor.server.dispatch")


def pass_seconds() -> float:
    """Seconds between two passes: a small part of the bound, so it is kept closely."""
    return max(0.2, min(2.0, settings.CONVEYOR_WORKER_LOST_SECONDS / 5))


def mark_lost(listening_since: datetime | None = None) -> list[int]:
    """Mark lost the running attempts not heard from within the bound; their ids.

    ``listening_since``: when this server began to answer. Until it has answered for a
    whole bound, silence says nothing: the workers were sending to a server that was
    not there (a restart), and their next heartbeat comes within the bound."""
    now = timezone.now()
    if listening_since is not None and now - listening_since < routing.lost_bound():
        return []
    cutoff = now - routing.lost_bound()
    stale = JobDispatch.objects.filter(status=DispatchStatus.RUNNING, heartbeat_at__lt=cutoff)
    marked = []
    for dispatch in stale:
        silent = (now - dispatch.heartbeat_at).total_seconds()
        who = dispatch.worker_name or "its worker"
        reason = f"worker lost: {who} last heard from {silent:.0f} s ago"
        entry = registry.get(dispatch.pk)
        if entry is not None:
            # Under the attempt's lock: a batch being stored finishes first, and none after.
            with entry.lock:
                updated = _mark(dispatch.pk, cutoff, reason)
        else:
            updated = _mark(dispatch.pk, cutoff, reason)
        if not updated:
            continue  # it was heard from, or ended, meanwhile
        logger.warning("job %s of run %s: %s", dispatch.job_key, dispatch.run_id, reason)
        marked.append(dispatch.pk)
        if entry is not None:
            entry.lose(reason)
    return marked


def _mark(dispatch_id: int, cutoff: object, reason: str) -> int:
    return JobDispatch.objects.filter(
        pk=dispatch_id, status=DispatchStatus.RUNNING, heartbeat_at__lt=cutoff
    ).update(status=DispatchStatus.LOST, reason=reason, finished_at=timezone.now())


def refresh_waiting() -> None:
    """Say on the run page whether a queued job has a live worker that can take it."""
    queued = [entry for entry in registry.all_in_flight() if not entry.done.is_set()]
    if not queued:
        return
    waiting = {
        dispatch.pk: dispatch
        for dispatch in JobDispatch.objects.filter(
            pk__in=[entry.dispatch_id for entry in queued], status=DispatchStatus.QUEUED
        )
    }
    if not waiting:
        return
    workers = routing.live_workers()
    for entry in queued:
        dispatch = waiting.get(entry.dispatch_id)
        if dispatch is None:
            continue
        reason = routing.unplaced_reason(entry.plan.labels, workers)
        if not reason and dispatch.reason.startswith("no worker"):
            names = ", ".join(w.name for w in routing.eligible(entry.plan.labels, workers))
            reason = f"waiting for a worker to take it ({names})"
        if not reason or reason == dispatch.reason:
            continue
        with entry.lock:
            updated = JobDispatch.objects.filter(
                pk=dispatch.pk, status=DispatchStatus.QUEUED
            ).update(reason=reason)
            if updated:
                plan = entry.plan
                entry.emit(
                    JobWaiting(
                        plan.job_key,
                        reason,
                        job_id=plan.event_job_id,
                        name=plan.name,
                        matrix=plan.matrix,
                    )
                )


class LostWorkerWatch(Background):
    thread_name = "conveyor-lost-workers"

    def __init__(self) -> None:
        super().__init__()
        self.listening_since = timezone.now()

    def one_pass(self) -> float:
        try:
            mark_lost(self.listening_since)
            refresh_waiting()
        except Exception:
            logger.exception("the lost-worker watch failed; it tries again")
        return pass_seconds()


def start_lost_worker_watch() -> LostWorkerWatch:
    watch = LostWorkerWatch()
    watch.start()
    return watch
