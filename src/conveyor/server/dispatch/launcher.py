"""``CeleryLauncher``: the engine's ``JobLauncher`` for a server with a broker.

For each job instance the scheduler hands over, it records a ``JobDispatch`` (the
attempt, with only the digest of its random token), registers the attempt in this
process (``registry``), sends the Celery message to the queue of the job's labels,
and blocks until the worker's outcome arrives (``worker_api``), the worker is lost
(``lost``), or the job is cancelled:

- cancelled while still queued: it ends at once, cancelled, and the message is
  turned away when a worker claims it;
- cancelled while running: the worker is told (the ``cancel`` answers) and its
  outcome awaited, at most ``cancel_bound()`` seconds;
- its worker lost: the job fails ("worker lost: ..."), or, when its plan says it is
  safe to run again, a new attempt is sent.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from django.db import close_old_connections, connection
from django.utils import timezone

from conveyor.engine.events import Event, JobFinished, StepFinished
from conveyor.engine.events import Status as EventStatus
from conveyor.engine.job_from_plan import ended_unrun
from conveyor.engine.plan import JobOutcome, JobPlan, PlanUnreadable
from conveyor.engine.results import JobResult
from conveyor.executors.base import Cancellation
from conveyor.server.dispatch import celery_app, protocol, registry, routing
from conveyor.server.dispatch.models import DispatchStatus, JobDispatch
from conveyor.server.runs.environments import JobWaiting
from conveyor.server.runs.models import Run

logger = logging.getLogger("conveyor.server.dispatch")

WAKE_SECONDS = 0.5  # how often a blocked launcher looks at its cancellation


def cancel_bound() -> float:
    """Seconds a cancelled running job's worker has to report its end."""
    from django.conf import settings

    return float(max(settings.CONVEYOR_WORKER_LOST_SECONDS, 10))


class CeleryLauncher:
    """Sends the jobs of one run to the workers; one per run, used from its job threads."""

    def __init__(self, run: Run, resume: bool = False) -> None:
        self.run = run
        self.resume = resume

    def run_job(
        self, plan: JobPlan, cancellation: Cancellation, emit: Callable[[Event], None]
    ) -> JobOutcome:
        try:
            return self._run_job(plan, cancellation, emit)
        finally:
            connection.close()  # the engine's job thread ends; so does its connection

    def _run_job(
        self, plan: JobPlan, cancellation: Cancellation, emit: Callable[[Event], None]
    ) -> JobOutcome:
        attempt = 1
        earlier = self._earlier_attempt(plan) if self.resume else None
        if earlier is not None:
            ended = _earlier_outcome(plan, earlier)
            if ended is not None:
                return ended
            if earlier.status in (DispatchStatus.QUEUED, DispatchStatus.RUNNING):
                outcome, _ = self._follow(earlier, plan, cancellation, emit)
                if outcome is not None:
                    return outcome
            elif not plan.retry_on_worker_lost:
                reason = earlier.reason or "its worker was lost while the server was stopped"
                return ended_unrun(plan, EventStatus.FAILURE, reason, emit)
            attempt = earlier.attempt + 1
        while True:
            if cancellation.cancelled:
                return ended_unrun(plan, EventStatus.CANCELLED, "cancelled", emit)
            token = secrets.token_urlsafe(32)
            queue = protocol.queue_for(plan.labels)
            dispatch = JobDispatch.objects.create(
                run=self.run,
                job_key=plan.job_key,
                attempt=attempt,
                labels=list(plan.labels),
                queue=queue,
                token_hash=protocol.token_digest(token),
                retry_on_worker_lost=plan.retry_on_worker_lost,
            )

            def send(dispatch: JobDispatch = dispatch, token: str = token) -> str | None:
                self._place(dispatch, plan, emit)
                try:
                    celery_app.send_job(dispatch.pk, token, dispatch.queue)
                except Exception as error:
                    reason = f"cannot send the job to the workers' broker: {error}"
                    JobDispatch.objects.filter(pk=dispatch.pk).update(
                        status=DispatchStatus.LOST, reason=reason, finished_at=timezone.now()
                    )
                    return reason
                return None

            outcome, lost = self._follow(dispatch, plan, cancellation, emit, send)
            if outcome is not None:
                return outcome
            # Its worker was lost and the job may run again.
            attempt += 1
            emit(
                JobWaiting(
                    plan.job_key, f"{lost}; sent again (attempt {attempt})", **_identity(plan)
                )
            )

    def _earlier_attempt(self, plan: JobPlan) -> JobDispatch | None:
        """The last attempt at this job a stopped coordinator of the run made, if any."""
        return (
            JobDispatch.objects.filter(run=self.run, job_key=plan.job_key)
            .order_by("-attempt")
            .first()
        )

    def _follow(
        self,
        dispatch: JobDispatch,
        plan: JobPlan,
        cancellation: Cancellation,
        emit: Callable[[Event], None],
        send: Callable[[], str | None] | None = None,
    ) -> tuple[JobOutcome | None, str]:
        """Await an attempt: one just made (``send`` sends it once this process can take
        its worker's calls, and says why it could not), or one sent before the server
        stopped (its worker has been sending the same batches again, answered 503, until
        this coordinator came back). ``(outcome, "")``, or ``(None, why)`` when its worker
        was lost and the job may run again."""
        entry = registry.InFlight(
            dispatch_id=dispatch.pk,
            run_id=self.run.pk,
            plan=plan,
            emit=emit,
            cancellation=cancellation,
        )
        registry.register(entry)
        outcome: JobOutcome | None = None
        try:
            unsent = send() if send is not None else None
            if unsent is not None:
                outcome = ended_unrun(plan, EventStatus.FAILURE, unsent, emit)
                return outcome, ""
            outcome = self._await(entry, dispatch)
            if outcome is not None and outcome is entry.outcome and not entry.job_finished:
                _finished_from(outcome, emit)  # the worker's own never came
        finally:
            registry.unregister(dispatch.pk)
            registry.end_gates(
                entry, outcome.result.status if outcome is not None else EventStatus.FAILURE
            )
        return outcome, entry.lost_reason or "worker lost"

    def _place(self, dispatch: JobDispatch, plan: JobPlan, emit: Callable[[Event], None]) -> None:
        """Say on the run page when no live worker can take the job (it still waits)."""
        workers = routing.live_workers()
        reason = routing.unplaced_reason(plan.labels, workers)
        if reason:
            JobDispatch.objects.filter(pk=dispatch.pk).update(reason=reason)
            emit(JobWaiting(plan.job_key, reason, **_identity(plan)))
        else:
            names = [worker.name for worker in routing.eligible(plan.labels, workers)]
            celery_app.ask_to_consume(dispatch.queue, names)

    def _await(self, entry: registry.InFlight, dispatch: JobDispatch) -> JobOutcome | None:
        """The attempt's outcome; None when its worker was lost and it is sent again."""
        plan, emit = entry.plan, entry.emit
        cancelled_at: float | None = None
        while not entry.done.wait(WAKE_SECONDS):
            if not entry.cancellation.cancelled:
                continue
            if cancelled_at is None:
                cancelled_at = time.monotonic()
                close_old_connections()
                withdrawn = JobDispatch.objects.filter(
                    pk=dispatch.pk, status=DispatchStatus.QUEUED
                ).update(
                    status=DispatchStatus.CANCELLED,
                    finished_at=timezone.now(),
                    reason="cancelled before a worker took it",
                )
                if withdrawn:
                    return ended_unrun(plan, EventStatus.CANCELLED, "cancelled", emit)
            elif time.monotonic() - cancelled_at > cancel_bound():
                reason = f"cancelled; its worker did not stop within {cancel_bound():.0f} s"
                with entry.lock:
                    stopped = JobDispatch.objects.filter(
                        pk=dispatch.pk, status=DispatchStatus.RUNNING
                    ).update(status=DispatchStatus.LOST, finished_at=timezone.now(), reason=reason)
                if stopped:
                    _close_open_steps(entry, EventStatus.CANCELLED, reason)
                    return ended_unrun(plan, EventStatus.CANCELLED, reason, emit)
        if entry.outcome is not None:
            return entry.outcome
        reason = entry.lost_reason or "worker lost"
        if entry.cancellation.cancelled:
            _close_open_steps(entry, EventStatus.CANCELLED, reason)
            return ended_unrun(plan, EventStatus.CANCELLED, f"cancelled; {reason}", emit)
        if plan.retry_on_worker_lost:
            _close_open_steps(entry, EventStatus.FAILURE, reason)
            return None
        _close_open_steps(entry, EventStatus.FAILURE, reason)
        return ended_unrun(plan, EventStatus.FAILURE, reason, emit)


def _finished_from(outcome: JobOutcome, emit: Callable[[Event], None]) -> None:
    result = outcome.result
    emit(
        JobFinished(
            job_key=result.job_key,
            job_id=result.job_id,
            status=result.status,
            duration=result.duration,
            outputs=dict(result.outputs),
            reason=result.reason,
            name=result.name,
            matrix=result.matrix,
            continued_on_error=result.continued_on_error,
        )
    )


def _identity(plan: JobPlan) -> dict:
    return {"job_id": plan.event_job_id, "name": plan.name, "matrix": plan.matrix}


def _close_open_steps(entry: registry.InFlight, status: EventStatus, reason: str) -> None:
    """The step a lost worker was running ends with the job (its log stays as it is)."""
    with entry.lock:
        for started in list(entry.open_steps.values()):
            entry.emit(
                StepFinished(
                    job_key=started.job_key,
                    step=started.step,
                    name=started.name,
                    status=status,
                    outcome=status,
                    duration=0.0,
                    reason=reason,
                )
            )
        entry.open_steps.clear()


def _earlier_outcome(plan: JobPlan, dispatch: JobDispatch) -> JobOutcome | None:
    """How an attempt of a stopped coordinator ended, when it did: the worker's outcome,
    or the end the coordinator gave the job (lost, cancelled) as its row records it."""
    from conveyor.server.runs.models import Job

    if dispatch.status == DispatchStatus.FINISHED and dispatch.outcome is not None:
        return outcome_from_json(plan, dispatch.outcome)
    if dispatch.status in (DispatchStatus.QUEUED, DispatchStatus.RUNNING):
        return None
    row = Job.objects.filter(run_id=dispatch.run_id, job_key=plan.job_key).first()
    ended = ("success", "failure", "cancelled", "skipped")
    if row is None or row.status not in ended:
        return None  # it ended on no job's row: decide again (retry, or fail)
    return JobOutcome(
        JobResult(
            job_key=plan.job_key,
            job_id=plan.event_job_id,
            name=plan.name,
            status=EventStatus(row.status),
            outputs=dict(row.outputs),
            matrix=plan.matrix,
            reason=row.reason or None,
        ),
        dict(row.outputs),
    )


def outcome_from_json(plan: JobPlan, data: object) -> JobOutcome:
    """The worker's outcome, or a failed one saying why it could not be read."""
    try:
        return JobOutcome.from_json(data)
    except PlanUnreadable as error:
        return JobOutcome(
            JobResult(
                job_key=plan.job_key,
                job_id=plan.event_job_id,
                name=plan.name,
                status=EventStatus.FAILURE,
                matrix=plan.matrix,
                reason=f"the worker's outcome cannot be read: {error}",
            )
        )


def launcher_for(run: Run, resume: bool = False) -> CeleryLauncher | None:
    """Where ``run``'s jobs go: to the workers when a broker is configured, else None
    (they run in this process, as the embedded server always did). ``resume``: the run
    was coordinated by a server that stopped; its jobs' earlier attempts count."""
    return CeleryLauncher(run, resume=resume) if celery_app.broker_configured() else None


def server_worker_name() -> str:
    """The name a job run by this server's own threads is shown with."""
    import socket

    return f"{socket.gethostname()} (server)"


def record_workers(run: Run, launched: bool) -> None:
    """Name on each of ``run``'s jobs the worker that ran it: the last attempt's, or
    this server when it ran the jobs itself."""
    from conveyor.server.runs.models import Job

    if not launched:
        run.jobs.filter(worker="", started_at__isnull=False).update(worker=server_worker_name())
        return
    last: dict[str, str] = {}
    for job_key, worker_name in (
        JobDispatch.objects.filter(run=run)
        .exclude(worker_name="")
        .order_by("attempt")
        .values_list("job_key", "worker_name")
    ):
        last[job_key] = worker_name
    for job_key, worker_name in last.items():
        Job.objects.filter(run=run, job_key=job_key).update(worker=worker_name)
