"""What the UI and the API show of dispatch: each worker's state and what it runs, and
for a run's jobs, who runs them and why one still waits.

Read-only: the rows are written by the worker endpoints and the launcher; this module
only tells their story the same way on the workers page, the run page and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from conveyor.server.dispatch.models import DispatchStatus, JobDispatch, Worker
from conveyor.server.runs.models import Job, Run, Status

ONLINE = "online"
STOPPING = "stopping"  # it said it is stopping and still finishes its jobs
LOST = "lost"  # silent for longer than the bound without saying goodbye
STOPPED = "stopped"  # it said it was stopping, then went quiet
STATES = (ONLINE, STOPPING, LOST, STOPPED)


def lost_after() -> timedelta:
    """How long a worker may stay silent before it counts as lost."""
    return timedelta(seconds=float(getattr(settings, "CONVEYOR_WORKER_LOST_SECONDS", 30)))


def broker_configured() -> bool:
    """Whether this server sends jobs to ``conveyor worker`` processes (scale-out)."""
    return bool(getattr(settings, "CONVEYOR_BROKER_URL", ""))


def worker_state(worker: Worker, now: datetime | None = None) -> str:
    """online, stopping, lost or stopped, by its last heartbeat and its goodbye."""
    now = now or timezone.now()
    heard = now - worker.last_seen_at <= lost_after()
    said_stopping = worker.stopped_at is not None and not (
        # A worker started again under the same name after it stopped is a new process.
        worker.started_at is not None and worker.started_at > worker.stopped_at
    )
    if said_stopping:
        return STOPPING if heard else STOPPED
    return ONLINE if heard else LOST


@dataclass
class WorkerView:
    worker: Worker
    state: str
    running: list[JobDispatch] = field(default_factory=list)

    @property
    def busy(self) -> int:
        return len(self.running)


def workers_overview(now: datetime | None = None) -> list[WorkerView]:
    """Every known worker, by name, with the jobs it runs now, in two queries."""
    now = now or timezone.now()
    workers = list(Worker.objects.order_by("name"))
    running: dict[str, list[JobDispatch]] = {}
    dispatches = (
        JobDispatch.objects.filter(status=DispatchStatus.RUNNING)
        .select_related("run__repository")
        .defer("run__execution", "run__payload", "outcome")
        .order_by("claimed_at", "id")
    )
    for dispatch in dispatches:
        # worker_name survives a Worker row's deletion; the FK may be unset by then.
        running.setdefault(dispatch.worker_name, []).append(dispatch)
    return [
        WorkerView(worker, worker_state(worker, now), running.get(worker.name, []))
        for worker in workers
    ]


@dataclass(frozen=True)
class JobDispatchFacts:
    """What dispatch adds to a job: who runs (or ran) it, and why it still waits."""

    worker: str = ""
    waiting_reason: str = ""


_PENDING = (DispatchStatus.QUEUED, DispatchStatus.RUNNING)


def job_facts(run: Run, jobs: list[Job]) -> dict[int, JobDispatchFacts]:
    """For each of ``jobs`` (by pk): its worker and, while queued, why no worker took it.

    The worker is the job's own record (``Job.worker``), else the worker that claimed
    its current attempt. The reason is the latest queued attempt's (e.g. "no worker
    has labels gpu"). A matrix job not expanded yet is one row named by its job id;
    the reason of any of its combinations stands for it."""
    latest: dict[str, JobDispatch] = {}
    for dispatch in (
        JobDispatch.objects.filter(run=run, status__in=_PENDING)
        .only("job_key", "attempt", "status", "worker_name", "reason")
        .order_by("job_key", "attempt", "id")
    ):
        latest[dispatch.job_key] = dispatch  # the last attempt wins
    facts: dict[int, JobDispatchFacts] = {}
    for job in jobs:
        dispatch = latest.get(job.job_key)
        worker = job.worker
        if not worker and dispatch is not None and dispatch.status == DispatchStatus.RUNNING:
            worker = dispatch.worker_name
        reason = ""
        if job.status == Status.QUEUED:
            reason = _queued_reason(job, dispatch, latest)
        facts[job.pk] = JobDispatchFacts(worker=worker, waiting_reason=reason)
    return facts


def _queued_reason(job: Job, dispatch: JobDispatch | None, latest: dict[str, JobDispatch]) -> str:
    if dispatch is not None:
        return dispatch.reason if dispatch.status == DispatchStatus.QUEUED else ""
    if job.job_key != job.job_id or job.matrix:
        return ""
    prefix = f"{job.job_id} ("
    for key, candidate in latest.items():
        queued = candidate.status == DispatchStatus.QUEUED
        if key.startswith(prefix) and queued and candidate.reason:
            return candidate.reason
    return ""


def shown_reason(job: Job, facts: JobDispatchFacts | None) -> str:
    """The job's own reason, else why it waits for a worker."""
    if job.reason:
        return job.reason
    return facts.waiting_reason if facts is not None else ""


def worker_record(view: WorkerView) -> dict[str, Any]:
    """A worker as the API gives it (URLs are the caller's to add to ``running``)."""
    worker = view.worker
    return {
        "name": worker.name,
        "state": view.state,
        "labels": list(worker.labels or []),
        "system": worker.system,
        "machine": worker.machine,
        "concurrency": worker.concurrency,
        "version": worker.version,
        "started_at": worker.started_at,
        "last_seen_at": worker.last_seen_at,
        "stopped_at": worker.stopped_at,
    }
