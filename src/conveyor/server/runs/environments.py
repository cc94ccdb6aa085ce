"""The server's environment gate (``RunOptions.environment_gate``): a job that names an
environment waits here for what the environment's protection rules ask.

- a branch the environment does not allow: the job fails before its first step;
- required approval: the job waits (``waiting``) until a member approves (or rejects)
  its deployment (``approve_deployment``);
- one deployment at a time per environment: the job waits behind the running one,
  first come first served, across runs. The queue is the ``Deployment`` rows in the
  database (a constraint allows one ``running`` row per environment), so it survives
  restarts; rows of runs that ended without releasing them are ended when met.

The job's Job row shows ``waiting`` with the reason while it waits (through the run's
sink, so it comes in order with the engine's own events).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from conveyor.engine import events as ev
from conveyor.engine.environments import EnvironmentGrant, EnvironmentRefused, EnvironmentRequest
from conveyor.records import field, record
from conveyor.server.repos.forges.base import runs_fork_code
from conveyor.server.repos.models import Environment
from conveyor.server.runs import live, signals
from conveyor.server.runs.models import (
    DEPLOYMENT_UNFINISHED,
    FINISHED_STATUSES,
    SERVER_ROLLBACK_JOB_PREFIX,
    Deployment,
    DeploymentStatus,
    Run,
)
from conveyor.workflow.globs import GlobError, match_filters

logger = logging.getLogger("conveyor.server.runs")

POLL_SECONDS = 0.5


@record(frozen=True)
class JobWaiting(ev.Event):
    """The server's own event (never the engine's): a job waits for its environment, or
    for a worker that can take it; ``reason`` "" means it goes on. ``job_id``, ``name``
    and ``matrix`` let the sink show a job that has not started yet (a matrix leg)."""

    type = "job_waiting"
    job_key: str
    reason: str = ""
    job_id: str = ""
    name: str = ""
    matrix: dict[str, Any] = field(default_factory=dict)


class DeploymentDenied(Exception):
    """An approval or rejection that cannot be given (the deployment is not waiting)."""


def branch_refusal(environment: Environment, run: Run) -> str | None:
    """Why ``run`` may not deploy to ``environment`` (its allowed branches), or None."""
    patterns = environment.branch_patterns
    if not patterns:
        return None
    allowed = ", ".join(patterns)
    if not run.branch:
        return (
            f"environment {environment.name!r} allows only the branches {allowed}; "
            f"{run.ref or 'this run'} is not a branch"
        )
    try:
        if match_filters(patterns, run.branch):
            return None
    except GlobError as error:
        return f"environment {environment.name!r} has a bad branch pattern: {error}"
    return (
        f"branch {run.branch!r} may not deploy to environment {environment.name!r} "
        f"(allowed: {allowed})"
    )


class EnvironmentGate:
    """One run's gate; called from the engine's job threads."""

    def __init__(self, run: Run, emit: Any, poll: float = POLL_SECONDS) -> None:
        self.run = run
        self.emit = emit  # the run's sink's emit: JobWaiting goes in order with the rest
        self.poll = poll

    def __call__(self, request: EnvironmentRequest) -> EnvironmentGrant:
        try:
            return self._enter(request)
        finally:
            connection.close()  # the engine's job thread ends soon; so does its connection

    def _enter(self, request: EnvironmentRequest) -> EnvironmentGrant:
        run = self.run
        environment, _ = Environment.objects.get_or_create(
            repository=run.repository, name=request.name
        )
        refusal = branch_refusal(environment, run)
        if refusal is not None:
            raise EnvironmentRefused(refusal)
        status = (
            DeploymentStatus.WAITING if environment.required_approval else DeploymentStatus.QUEUED
        )
        deployment, _ = Deployment.objects.update_or_create(
            run=run,
            job_key=request.job_key,
            defaults={
                "environment": environment,
                "status": status,
                "url": request.url,
                "sha": run.sha,
                "ref": run.ref,
                "triggered_by": run.actor,
            },
        )
        self._wait_for_turn(deployment, environment, request)
        grant_secrets: dict[str, str] = {}
        if not runs_fork_code(run):  # a fork's code never gets secrets, an environment's neither
            grant_secrets = {secret.name: secret.reveal() for secret in environment.secrets.all()}
        variables = {variable.name: variable.value for variable in environment.variables.all()}
        return EnvironmentGrant(
            secrets=grant_secrets,
            variables=variables,
            release=lambda status, url: self._release(deployment.pk, status, url),
        )

    def _wait_for_turn(
        self, deployment: Deployment, environment: Environment, request: EnvironmentRequest
    ) -> None:
        woken = threading.Event()
        unsubscribe = request.cancellation.on_cancel(woken.set)
        shown = ""
        try:
            while True:
                deployment.refresh_from_db()
                if deployment.status == DeploymentStatus.CANCELLED:
                    raise EnvironmentRefused(deployment.reason or "the deployment was rejected")
                if request.cancellation.cancelled:
                    end_deployment(deployment.pk, DeploymentStatus.CANCELLED, "cancelled")
                    raise EnvironmentRefused(
                        f"cancelled while waiting for environment {environment.name!r}",
                        ev.Status.CANCELLED,
                    )
                if deployment.status == DeploymentStatus.QUEUED and try_start(deployment):
                    break
                reason = waiting_reason(deployment, environment)
                if reason != shown:
                    self.emit(JobWaiting(request.job_key, reason))
                    shown = reason
                woken.wait(self.poll)
        finally:
            unsubscribe()
        if shown:
            self.emit(JobWaiting(request.job_key, ""))

    def _release(self, deployment_id: int, status: ev.Status, url: str) -> None:
        try:
            result = {
                ev.Status.SUCCESS: DeploymentStatus.SUCCESS,
                ev.Status.CANCELLED: DeploymentStatus.CANCELLED,
            }.get(status, DeploymentStatus.FAILURE)
            end_deployment(deployment_id, result, url=url)
        finally:
            connection.close()


def waiting_reason(deployment: Deployment, environment: Environment) -> str:
    if deployment.status == DeploymentStatus.WAITING:
        return f"waiting for a member to approve the deployment to {environment.name!r}"
    ahead = (
        Deployment.objects.filter(environment=environment, status__in=_AHEAD)
        .exclude(pk=deployment.pk)
        .filter(pk__lt=deployment.pk)
        .select_related("run")
        .order_by("pk")
        .first()
    )
    ahead = ahead or (
        Deployment.objects.filter(environment=environment, status=DeploymentStatus.RUNNING)
        .select_related("run")
        .first()
    )
    if ahead is None:
        return f"waiting for environment {environment.name!r}"
    return (
        f"waiting for environment {environment.name!r}: run #{ahead.run.number} "
        f"({ahead.job_key}) deploys first"
    )


_AHEAD = (DeploymentStatus.QUEUED, DeploymentStatus.RUNNING)


def try_start(deployment: Deployment) -> bool:
    """Make ``deployment`` (queued) the environment's running one if it is free and no
    deployment queued before it waits; True when it now runs."""
    end_abandoned(deployment.environment_id)
    earlier = Deployment.objects.filter(
        environment_id=deployment.environment_id,
        status=DeploymentStatus.QUEUED,
        pk__lt=deployment.pk,
    )
    if earlier.exists():
        return False
    try:
        with transaction.atomic():
            started = Deployment.objects.filter(
                pk=deployment.pk, status=DeploymentStatus.QUEUED
            ).update(status=DeploymentStatus.RUNNING, started_at=timezone.now())
    except IntegrityError:  # another deployment holds the environment
        return False
    if started:
        _tell_changed(deployment.pk)
    return bool(started)


def end_abandoned(environment_id: int | None) -> None:
    """Deployments whose run is over but which were never ended (a server killed in the
    middle; recovery ends them too, this is the belt to its braces) end as failed."""
    if environment_id is None:
        return
    left = (
        Deployment.objects.filter(
            environment_id=environment_id,
            status__in=DEPLOYMENT_UNFINISHED,
            run__status__in=FINISHED_STATUSES,
        )
        .exclude(job_key__startswith=SERVER_ROLLBACK_JOB_PREFIX)
        .values_list("pk", flat=True)
    )
    for deployment_id in list(left):
        end_deployment(deployment_id, DeploymentStatus.FAILURE, "its run ended before it did")


def end_deployment(deployment_id: int, status: str, reason: str = "", url: str = "") -> None:
    """End a deployment that has not ended yet (again: nothing)."""
    changes: dict[str, Any] = {"status": status, "finished_at": timezone.now()}
    if reason:
        changes["reason"] = reason
    if url:
        changes["url"] = url
    Deployment.objects.filter(pk=deployment_id, status__in=DEPLOYMENT_UNFINISHED).update(**changes)
    Deployment.objects.filter(pk=deployment_id, started_at__isnull=True).update(
        started_at=changes["finished_at"]
    )
    _tell_changed(deployment_id)


def _tell_changed(deployment_id: int) -> None:
    deployment = Deployment.objects.filter(pk=deployment_id).first()
    if deployment is not None:
        signals.tell(signals.deployment_changed, deployment=deployment)


def end_deployments_of_runs(run_ids: list[int], status: str, reason: str) -> None:
    """The unfinished deployments of runs that just ended (recovery, a run's end)."""
    for deployment_id in Deployment.objects.filter(
        run_id__in=run_ids, status__in=DEPLOYMENT_UNFINISHED
    ).values_list("pk", flat=True):
        end_deployment(deployment_id, status, reason)


def approve_deployment(deployment: Deployment, by: str) -> Deployment:
    """Let a deployment waiting for approval go on (it still waits its turn)."""
    approved = Deployment.objects.filter(pk=deployment.pk, status=DeploymentStatus.WAITING).update(
        status=DeploymentStatus.QUEUED, approved_by=by, approved_at=timezone.now()
    )
    deployment.refresh_from_db()
    if not approved:
        raise DeploymentDenied(_not_waiting(deployment))
    live.publish(deployment.run_id)
    signals.tell(signals.deployment_changed, deployment=deployment)
    return deployment


def reject_deployment(deployment: Deployment, by: str) -> Deployment:
    """Refuse a deployment waiting for approval: its job fails without running."""
    rejected = Deployment.objects.filter(pk=deployment.pk, status=DeploymentStatus.WAITING).update(
        status=DeploymentStatus.CANCELLED,
        reason=f"deployment rejected by {by}",
        finished_at=timezone.now(),
    )
    deployment.refresh_from_db()
    if not rejected:
        raise DeploymentDenied(_not_waiting(deployment))
    live.publish(deployment.run_id)
    signals.tell(signals.deployment_changed, deployment=deployment)
    return deployment


def _not_waiting(deployment: Deployment) -> str:
    return f"deployment {deployment.pk} is not waiting for approval (it is {deployment.status})"
