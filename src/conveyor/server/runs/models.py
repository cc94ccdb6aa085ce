"""Runs, their jobs and steps, the steps' logs (in chunks) and annotations.

The words are DESIGN.md's: a run is one execution of one workflow for one commit
and event; its status goes queued -> running -> success | failure | cancelled. A
pull request from a fork, on a repository that wants approval, starts ``waiting``:
nothing runs it until a member approves it (then ``queued``) or cancels it.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models

from conveyor.server.repos.models import Environment, Repository


class Status(models.TextChoices):
    WAITING = "waiting"  # for a member's approval; no worker takes it
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


FINISHED_STATUSES = (Status.SUCCESS, Status.FAILURE, Status.CANCELLED, Status.SKIPPED)
WAITING_FOR_APPROVAL = "waiting for approval: pull request from a fork"


class Run(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveIntegerField()  # 1, 2, 3... per repository
    workflow_path = models.CharField(max_length=500)
    workflow_name = models.CharField(max_length=500, blank=True)
    event = models.CharField(max_length=100)
    ref = models.CharField(max_length=500, blank=True)
    sha = models.CharField(max_length=64, blank=True)
    before_sha = models.CharField(max_length=64, blank=True)
    commit_message = models.TextField(blank=True)
    commit_author = models.CharField(max_length=300, blank=True)
    actor = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    # A re-run of failed jobs runs only these job ids (and what they need); null: all.
    only_jobs = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    reason = models.TextField(blank=True)
    pipeline_status = models.CharField(max_length=200, default="Not started")
    # The seed's tables as the engine's PipelineTracker last drew them (its ``snapshot()``:
    # tracker, table, stages), written by the DatabaseSink; {} until the engine starts.
    execution = models.JSONField(default=dict, blank=True)
    concurrency_group = models.CharField(max_length=500, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # The server (``settings.SERVER_ID``) that claimed the run; its start-up recovery
    # fails only its own runs. "" for runs claimed before this was recorded.
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    # The run executes a fork's code (forges.base.from_fork): it never gets secrets,
    # nor do its re-runs.
    from_fork = models.BooleanField(default=False)
    approved_by = models.CharField(max_length=150, blank=True)  # a username; "" if not
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["repository", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "number"], name="run_number_unique")
        ]
        indexes = [
            models.Index(fields=["repository", "-number"], name="run_repo_number"),
            models.Index(fields=["repository", "ref", "-number"], name="run_repo_ref_number"),
            models.Index(fields=["repository", "status"], name="run_repo_status"),
            models.Index(fields=["status"], name="run_status"),
            # Retention looks runs up by age: the finished ones before a date.
            models.Index(fields=["finished_at"], name="run_finished_at"),
        ]

    def __str__(self) -> str:
        return f"{self.repository.name} #{self.number} ({self.workflow_name or self.workflow_path})"

    @property
    def branch(self) -> str:
        """The branch name for a branch ref, else "" (tags, pull request refs)."""
        prefix = "refs/heads/"
        return self.ref[len(prefix) :] if self.ref.startswith(prefix) else ""

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None:
            return None
        if self.finished_at is None:
            from django.utils import timezone

            return timezone.now() - self.started_at
        return self.finished_at - self.started_at

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class Job(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="jobs")
    job_key = models.CharField(max_length=500)  # job id plus matrix values; unique in a run
    job_id = models.CharField(max_length=200)
    name = models.CharField(max_length=500, blank=True)
    matrix = models.JSONField(default=dict, blank=True)
    needs = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    reason = models.TextField(blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    order = models.PositiveIntegerField(default=0)  # position of the job in the workflow
    # Who ran it: a `conveyor worker`'s name, or the server's own for its embedded pool.
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["run", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "job_key"], name="job_key_unique")]

    def __str__(self) -> str:
        return self.job_key


class Step(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()  # 0-based, as the engine counts
    name = models.CharField(max_length=500, blank=True)
    command = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    outcome = models.CharField(max_length=20, choices=Status.choices, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary_markdown = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="step_index_unique")]

    def __str__(self) -> str:
        return f"{self.job.job_key} / {self.name}"


class LogChunk(models.Model):
    """A run of consecutive lines of one step's log (at most ~64 KiB of text)."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="log_chunks")
    seq = models.PositiveIntegerField()  # 0, 1, 2... within the step
    first_line = models.PositiveIntegerField()  # 1-based line number of its first line
    line_count = models.PositiveIntegerField()
    text = models.TextField()  # the lines joined by \n, no trailing newline

    class Meta:
        ordering = ["step", "seq"]
        constraints = [models.UniqueConstraint(fields=["step", "seq"], name="log_chunk_seq_unique")]

    def __str__(self) -> str:
        return f"lines {self.first_line}-{self.first_line + self.line_count - 1}"

    def lines(self) -> list[str]:
        return self.text.split("\n")


class Annotation(models.Model):
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="annotations")
    level = models.CharField(max_length=10)  # error | warning | notice
    message = models.TextField()
    file = models.CharField(max_length=500, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True)
    column = models.PositiveIntegerField(null=True, blank=True)
    title = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["step", "id"]

    def __str__(self) -> str:
        return f"{self.level}: {self.message[:60]}"


class DeploymentStatus(models.TextChoices):
    WAITING = "waiting"  # for a member's approval
    QUEUED = "queued"  # approved (or no approval needed); waits for the environment
    RUNNING = "running"  # the job deploys: it holds its environment, alone
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"


DEPLOYMENT_PENDING = (DeploymentStatus.WAITING, DeploymentStatus.QUEUED)
# The job_key of a rollback the server itself runs (monitoring.rollback): its row belongs
# to the run that deployed the release it undoes, a run long over, so the queue must not
# take it for a row that run abandoned.
SERVER_ROLLBACK_JOB_PREFIX = "rollback@"
DEPLOYMENT_UNFINISHED = (*DEPLOYMENT_PENDING, DeploymentStatus.RUNNING)


class Deployment(models.Model):
    """One job's deployment: to an environment it named (its protection rules, its
    history), and/or what its deploy step reported (``DeploymentChanged``: ``state``).

    The environment's queue is these rows: one ``running`` per environment at most (a
    constraint), the next the oldest ``queued`` one. A row survives restarts; the
    server's recovery ends the rows of the runs it fails, so no environment stays held.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="deployments")
    job_key = models.CharField(max_length=500)
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.CASCADE, related_name="deployments"
    )
    status = models.CharField(
        max_length=20, choices=DeploymentStatus.choices, default=DeploymentStatus.RUNNING
    )
    reason = models.TextField(blank=True)
    # The deploy step's last DeploymentChanged: deploying, health-checking, live,
    # failed, rolled-back; "" when no step reported one.
    state = models.CharField(max_length=20, blank=True)
    target = models.CharField(max_length=1000, blank=True)
    release = models.CharField(max_length=300, blank=True)
    url = models.CharField(max_length=1000, blank=True)
    sha = models.CharField(max_length=64, blank=True)
    ref = models.CharField(max_length=500, blank=True)
    triggered_by = models.CharField(max_length=200, blank=True)
    approved_by = models.CharField(max_length=150, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "job_key"], name="deployment_one_per_job"),
            models.UniqueConstraint(
                fields=["environment"],
                condition=models.Q(status="running"),
                name="deployment_one_running_per_environment",
            ),
        ]
        indexes = [
            models.Index(fields=["environment", "status"], name="deployment_env_status"),
            # The environment page and API list an environment's deployments newest first,
            # and look for its last live one: walked backwards, not sorted whole.
            models.Index(fields=["environment", "-id"], name="deployment_env_newest"),
            # DORA's window: an environment's deployments finished since a date.
            models.Index(fields=["environment", "finished_at"], name="deployment_env_finished"),
            # The server's own rollbacks (DORA: which deployments were undone): a few rows
            # among all the deployments, found without reading the others.
            models.Index(
                fields=["environment", "status"],
                condition=models.Q(job_key__startswith=SERVER_ROLLBACK_JOB_PREFIX),
                name="deployment_server_rollbacks",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run} {self.job_key} -> {self.environment or self.target}"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at
