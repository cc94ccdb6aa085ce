"""The engine's events turned into database rows as they come, and live notifications.

``DatabaseSink`` receives every event of one run (from one thread at a time, as
the engine promises) and writes what it means: Job and Step rows, LogChunk rows
(a batch of log lines becomes one or a few chunks of at most ``CHUNK_CAP``
bytes, so a huge log is many small rows and never one blob), Annotation rows,
and, from a ``PipelineTracker``, ``Run.pipeline_status`` and ``Run.execution`` (the
tracker's snapshot: the seed's tables as the run page and the API show them). The
snapshot is written when a step, job or the run starts or ends, not for log lines;
a stage's summary line, taken from its log by the tracker, goes with the next one.
After each write it calls ``live.publish(run_id)`` so live pages update.

The writes happen on one writer thread of the sink's own: the engine's job
threads hand events over a bounded queue (so memory stays bounded when the
database is slower than a step's output: the step then waits), and the events
that piled up while a transaction ran are written together in the next one.
``close()`` writes what is left and ends the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from conveyor.engine import events as ev
from conveyor.engine.pipeline_status import PipelineTracker
from conveyor.engine.runner import select_jobs
from conveyor.server.runs import live, signals
from conveyor.server.runs.environments import JobWaiting
from conveyor.server.runs.models import (
    Annotation,
    Deployment,
    DeploymentStatus,
    Job,
    LogChunk,
    Run,
    Status,
    Step,
)
from conveyor.workflow.model import Workflow

CHUNK_CAP = 64 * 1024  # bytes of text in one LogChunk (a longer single line stays whole)
QUEUE_SIZE = 32  # events waiting for the writer; a LogLines event is at most ~64 KiB
BATCH_SIZE = 32  # events written in one transaction at most
# The events after which the tables may read differently (log lines only add detail).
_BOUNDARIES = (
    ev.RunStarted,
    ev.JobStarted,
    ev.StepStarted,
    ev.StepFinished,
    ev.JobFinished,
    ev.RunFinished,
    ev.DeploymentChanged,
    JobWaiting,
)

logger = logging.getLogger("conveyor.server.runs")
_CLOSE = object()
_ENDED = (Status.SUCCESS, Status.FAILURE, Status.CANCELLED, Status.SKIPPED)


def _selected_jobs(workflow: Workflow, run: Run) -> list[str] | None:
    """The jobs a re-run of failed jobs executes, so its tables have only their stages."""
    if run.only_jobs is None:
        return None
    try:
        return select_jobs(workflow, run.only_jobs)
    except ValueError:
        return None  # the engine refuses the run and says why; the tables show every job


def split_into_chunks(text: str, cap: int = CHUNK_CAP) -> list[tuple[str, int]]:
    """``(chunk_text, line_count)`` pieces of ``text`` (lines joined by \\n), each at most
    ``cap`` UTF-8 bytes unless a single line is longer."""
    if len(text) * 4 <= cap or len(text.encode("utf-8")) <= cap:
        return [(text, text.count("\n") + 1)]
    pieces: list[tuple[str, int]] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        line_size = len(line.encode("utf-8")) + 1
        if current and size + line_size > cap:
            pieces.append(("\n".join(current), len(current)))
            current, size = [], 0
        current.append(line)
        size += line_size
    if current:
        pieces.append(("\n".join(current), len(current)))
    return pieces


@dataclass
class _StepLog:
    step_pk: int
    next_seq: int = 0
    next_line: int = 1


class DatabaseSink:
    """A sink for one run; ``run`` must already be in the database."""

    def __init__(self, run: Run, workflow: Workflow) -> None:
        self.run = run
        self.workflow = workflow
        self.tracker = PipelineTracker(workflow, selected_jobs=_selected_jobs(workflow, run))
        self._jobs: dict[str, Job] = {}
        self._steps: dict[tuple[str, int], _StepLog] = {}
        self._order = {job_id: index for index, job_id in enumerate(workflow.jobs)}
        self._placeholders: dict[str, Job] = {}  # job id -> row made before its first instance
        self._pipeline_status = run.pipeline_status
        self._execution: dict[str, Any] = run.execution
        self.finished: ev.RunFinished | None = None
        self.error: BaseException | None = None  # the first write that failed
        self._resuming = False
        self._ended: set[str] = set()  # job keys ended before a resume
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_SIZE)
        self._writer = threading.Thread(
            target=self._write_loop, name=f"sink run {run.pk}", daemon=True
        )
        self._writer.start()

    @classmethod
    def resumed(cls, run: Run, workflow: Workflow) -> DatabaseSink:
        """A sink for a run a restarted server coordinates again: its jobs on workers
        went on while the server was away, and the scheduler replays the rest.

        What the replay says again is dropped: ``RunStarted`` (the job rows exist) and
        the end of a job whose row has ended already. The tables go on from the run's
        last snapshot."""
        sink = cls(run, workflow)
        sink._resuming = True
        rows = list(run.jobs.all())
        sink._jobs = {row.job_key: row for row in rows}
        # A job's row made at the start and not yet taken over by its first instance (a
        # matrix leg's key differs): the first leg takes it, as it would have.
        sink._placeholders = {
            row.job_id: row
            for row in rows
            if row.job_key == row.job_id and row.status == Status.QUEUED
        }
        sink._ended = {row.job_key for row in rows if row.status in _ENDED}
        try:
            earlier = PipelineTracker.from_snapshot(run.execution)
        except ValueError:
            earlier = None  # never written (the run had not started a job): start afresh
        if earlier is not None and len(earlier.stages) == len(sink.tracker.stages):
            sink.tracker.stages = earlier.stages
        return sink

    def emit(self, event: ev.Event) -> None:
        if self._resuming:
            if isinstance(event, ev.RunStarted):
                return
            if isinstance(event, ev.JobFinished) and event.job_key in self._ended:
                return
        self._queue.put(event)

    def close(self) -> None:
        """Write every event emitted so far, then stop the writer thread."""
        self._queue.put(_CLOSE)
        self._writer.join()

    def _write_loop(self) -> None:
        try:
            closing = False
            while not closing:
                batch = [self._queue.get()]
                while len(batch) < BATCH_SIZE:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if batch[-1] is _CLOSE:
                    closing = True
                    batch.pop()
                if batch:
                    self._write_batch(batch)
        finally:
            connection.close()

    def _write_batch(self, batch: list[object]) -> None:
        try:
            with transaction.atomic():
                for event in batch:
                    assert isinstance(event, ev.Event)
                    self.tracker.emit(event)
                    self._write(event)
                self._write_tables(boundary=any(isinstance(event, _BOUNDARIES) for event in batch))
        except Exception as error:
            # The run goes on; its end is still recorded by execute_run, with this reason.
            logger.exception("could not store events of run %s", self.run.pk)
            self.error = self.error or error
            # Rows made in the failed transaction are gone: look everything up again.
            self._steps.clear()
            self._jobs.clear()
            self._placeholders.clear()
            # What the failed transaction wrote of the tables is gone too: write them again.
            self._pipeline_status = ""
            self._execution = {}
        live.publish(self.run.pk)

    def _write_tables(self, boundary: bool) -> None:
        changes: dict[str, Any] = {}
        status = self.tracker.pipeline_status
        if status != self._pipeline_status:
            changes["pipeline_status"] = status
        if boundary:
            execution = self.tracker.snapshot()
            if execution != self._execution:
                changes["execution"] = execution
        if changes:
            Run.objects.filter(pk=self.run.pk).update(**changes)
            self._pipeline_status = changes.get("pipeline_status", self._pipeline_status)
            self._execution = changes.get("execution", self._execution)

    # -- writing -----------------------------------------------------------------------

    def _write(self, event: ev.Event) -> None:
        if isinstance(event, ev.LogLines):
            self._log(event)
        elif isinstance(event, ev.StepStarted):
            self._step_started(event)
        elif isinstance(event, ev.StepFinished):
            self._step_finished(event)
        elif isinstance(event, ev.JobStarted):
            self._job_started(event)
        elif isinstance(event, ev.JobFinished):
            self._job_finished(event)
        elif isinstance(event, ev.Annotation):
            self._annotation(event)
        elif isinstance(event, ev.StepSummary):
            self._summary(event)
        elif isinstance(event, ev.RunStarted):
            self._run_started()
        elif isinstance(event, ev.RunFinished):
            self.finished = event
        elif isinstance(event, ev.DeploymentChanged):
            self._deployment_changed(event)
        elif isinstance(event, JobWaiting):
            self._job_waiting(event)

    def _run_started(self) -> None:
        # Every job appears at once (queued), so the job graph is complete from the start.
        selected = self.run.only_jobs
        for job_id, job in self.workflow.jobs.items():
            if selected is not None and job_id not in selected and not self._needed(job_id):
                continue
            row, _ = Job.objects.get_or_create(
                run=self.run,
                job_key=job_id,
                defaults={
                    "job_id": job_id,
                    "name": job.name if job.name and "${{" not in job.name else job_id,
                    "needs": list(job.needs),
                    "order": self._order[job_id],
                },
            )
            self._jobs[job_id] = row
            self._placeholders[job_id] = row

    def _needed(self, job_id: str) -> bool:
        """Whether a job outside ``only_jobs`` runs because a selected job needs it."""
        wanted = set(self.run.only_jobs or [])
        pending = list(wanted)
        seen: set[str] = set()
        while pending:
            current = pending.pop()
            if current in seen or current not in self.workflow.jobs:
                continue
            seen.add(current)
            pending.extend(self.workflow.jobs[current].needs)
        return job_id in seen

    def _job_row(self, job_key: str, job_id: str, name: str, matrix: dict) -> Job:
        row = self._jobs.get(job_key)
        if row is not None:
            return row
        placeholder = self._placeholders.pop(job_id, None)
        if placeholder is not None and placeholder.job_key != job_key:
            # The first matrix combination takes over the row made for the job.
            placeholder.job_key = job_key
            placeholder.name = name or job_key
            placeholder.matrix = matrix
            placeholder.save(update_fields=["job_key", "name", "matrix"])
            self._jobs.pop(job_id, None)
            self._jobs[job_key] = placeholder
            return placeholder
        job = self.workflow.jobs.get(job_id)
        row, _ = Job.objects.get_or_create(
            run=self.run,
            job_key=job_key,
            defaults={
                "job_id": job_id,
                "name": name or job_key,
                "matrix": matrix,
                "needs": list(job.needs) if job else [],
                "order": self._order.get(job_id, len(self._order)),
            },
        )
        self._jobs[job_key] = row
        return row

    def _job_started(self, event: ev.JobStarted) -> None:
        row = self._job_row(event.job_key, event.job_id, event.name, event.matrix)
        row.status = Status.RUNNING
        row.name = event.name or row.name
        row.matrix = event.matrix
        row.started_at = timezone.now()
        row.save(update_fields=["status", "name", "matrix", "started_at"])
        job = self.workflow.jobs.get(event.job_id)
        if job is not None:
            Step.objects.bulk_create(
                [
                    Step(
                        job=row,
                        index=step.index,
                        name=step.display_name,
                        command=step.run if step.run is not None else f"uses: {step.uses}",
                    )
                    for step in job.steps
                ],
                ignore_conflicts=True,
            )

    def _job_finished(self, event: ev.JobFinished) -> None:
        row = self._job_row(event.job_key, event.job_id, event.name, event.matrix)
        now = timezone.now()
        row.status = event.status.value
        row.reason = event.reason or ""
        row.outputs = event.outputs
        row.finished_at = now
        row.started_at = row.started_at or now
        row.save(update_fields=["status", "reason", "outputs", "finished_at", "started_at"])
        # A deployment the job made and nobody ended (none named an environment) ends with it.
        result = {
            ev.Status.SUCCESS: DeploymentStatus.SUCCESS,
            ev.Status.CANCELLED: DeploymentStatus.CANCELLED,
        }.get(event.status, DeploymentStatus.FAILURE)
        Deployment.objects.filter(
            run=self.run, job_key=event.job_key, status=DeploymentStatus.RUNNING
        ).update(status=result, finished_at=now)
        # Steps that never started (the job was cancelled or failed before them) end with it.
        left = Status.CANCELLED if event.status == ev.Status.CANCELLED else Status.SKIPPED
        row.steps.filter(status__in=(Status.QUEUED, Status.RUNNING)).update(
            status=left, finished_at=now
        )

    def _step(self, job_key: str, index: int, name: str = "", command: str = "") -> _StepLog:
        key = (job_key, index)
        found = self._steps.get(key)
        if found is not None:
            return found
        job = self._jobs.get(job_key) or self._job_row(job_key, job_key.split(" (", 1)[0], "", {})
        step, _ = Step.objects.get_or_create(
            job=job, index=index, defaults={"name": name or f"step {index + 1}", "command": command}
        )
        last = step.log_chunks.order_by("-seq").first()
        found = _StepLog(step_pk=step.pk)
        if last is not None:
            found.next_seq = last.seq + 1
            found.next_line = last.first_line + last.line_count
        self._steps[key] = found
        return found

    def _step_started(self, event: ev.StepStarted) -> None:
        log = self._step(event.job_key, event.step, event.name, event.command)
        Step.objects.filter(pk=log.step_pk).update(
            name=event.name,
            command=event.command,
            status=Status.RUNNING,
            started_at=timezone.now(),
        )

    def _step_finished(self, event: ev.StepFinished) -> None:
        log = self._step(event.job_key, event.step, event.name)
        now = timezone.now()
        Step.objects.filter(pk=log.step_pk).update(
            status=event.status.value,
            outcome=event.outcome.value,
            exit_code=event.exit_code,
            reason=event.reason or "",
            finished_at=now,
        )
        Step.objects.filter(pk=log.step_pk, started_at__isnull=True).update(started_at=now)

    def _log(self, event: ev.LogLines) -> None:
        log = self._step(event.job_key, event.step)
        chunks = []
        for text, count in split_into_chunks(event.text):
            chunks.append(
                LogChunk(
                    step_id=log.step_pk,
                    seq=log.next_seq,
                    first_line=log.next_line,
                    line_count=count,
                    text=text,
                )
            )
            log.next_seq += 1
            log.next_line += count
        LogChunk.objects.bulk_create(chunks)

    def _annotation(self, event: ev.Annotation) -> None:
        log = self._step(event.job_key, event.step)
        Annotation.objects.create(
            step_id=log.step_pk,
            level=event.level,
            message=event.message,
            file=event.file or "",
            line=event.line,
            column=event.column,
            title=event.title or "",
        )

    def _summary(self, event: ev.StepSummary) -> None:
        log = self._step(event.job_key, event.step)
        step = Step.objects.get(pk=log.step_pk)
        step.summary_markdown = (
            f"{step.summary_markdown}\n{event.markdown}"
            if step.summary_markdown
            else event.markdown
        )
        step.save(update_fields=["summary_markdown"])

    def _job_waiting(self, event: JobWaiting) -> None:
        row = self._jobs.get(event.job_key)
        if row is None and event.job_id:
            row = self._job_row(event.job_key, event.job_id, event.name, event.matrix)
        rows = Job.objects.filter(pk=row.pk) if row else self.run.jobs.filter(job_key=event.job_key)
        if event.reason:
            rows.update(status=Status.WAITING, reason=event.reason)
        else:
            rows.filter(status=Status.WAITING).update(status=Status.RUNNING, reason="")

    def _deployment_changed(self, event: ev.DeploymentChanged) -> None:
        """A deploy step's state, on the job's deployment (made here when the job named no
        environment: the run page and the API still show what it deployed)."""
        now = timezone.now()
        deployment, _ = Deployment.objects.get_or_create(
            run=self.run,
            job_key=event.job_key,
            defaults={
                "status": DeploymentStatus.RUNNING,
                "sha": self.run.sha,
                "ref": self.run.ref,
                "triggered_by": self.run.actor,
                "started_at": now,
            },
        )
        deployment.state = event.state
        deployment.target = event.target
        deployment.release = event.release or deployment.release
        deployment.url = deployment.url or event.url
        deployment.reason = event.reason or ""
        deployment.save(update_fields=["state", "target", "release", "url", "reason"])
        signals.tell(signals.deployment_changed, deployment=deployment, event=event)
