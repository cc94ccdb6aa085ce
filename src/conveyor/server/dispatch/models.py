"""The workers a scaled-out server knows, and each job it sent to one of them."""

from __future__ import annotations

from django.db import models

from conveyor.server.runs.models import Run


class Worker(models.Model):
    """A ``conveyor worker`` process, as its last heartbeat described it."""

    name = models.CharField(max_length=200, unique=True)  # its Celery node name
    # The runs-on labels it serves, lower case: --labels, its system's, "self-hosted".
    labels = models.JSONField(default=list, blank=True)
    system = models.CharField(max_length=40, blank=True)  # os.uname().sysname
    machine = models.CharField(max_length=40, blank=True)  # os.uname().machine
    concurrency = models.PositiveIntegerField(default=1)
    version = models.CharField(max_length=40, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)  # it said it was stopping

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DispatchStatus(models.TextChoices):
    QUEUED = "queued"  # sent to the broker, no worker has claimed it
    RUNNING = "running"  # a worker claimed it and sends heartbeats
    FINISHED = "finished"  # the worker reported its outcome
    LOST = "lost"  # its worker stopped sending heartbeats: failed, or sent again
    CANCELLED = "cancelled"  # the run was cancelled before a worker claimed it


class JobDispatch(models.Model):
    """One attempt at one job instance of a run, sent to the workers.

    A worker claims it (``queued`` -> ``running``) with the attempt's token; only
    that worker's events, heartbeats and outcome are accepted for it, and a second
    delivery of the same message finds it claimed. ``outcome`` (the engine's
    ``JobOutcome``) lets a restarted server finish the run without running the job
    again.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="dispatches")
    job_key = models.CharField(max_length=500)
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=20, choices=DispatchStatus.choices, default=DispatchStatus.QUEUED
    )
    labels = models.JSONField(default=list, blank=True)  # the plan's runs-on
    queue = models.CharField(max_length=200, blank=True)  # the broker queue it went to
    token_hash = models.CharField(max_length=64)  # sha256 of the attempt's token
    retry_on_worker_lost = models.BooleanField(default=False)
    worker = models.ForeignKey(
        Worker, null=True, blank=True, on_delete=models.SET_NULL, related_name="dispatches"
    )
    worker_name = models.CharField(max_length=200, blank=True)  # kept if the Worker goes
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    events_stored = models.PositiveIntegerField(default=0)  # batches stored, for retries
    outcome = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)  # why it waits (no worker serves it), or was lost

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "job_key", "attempt"], name="dispatch_attempt_unique"
            )
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="dispatch_live")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.job_key}#{self.attempt}"
