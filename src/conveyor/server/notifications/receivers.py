"""Listening to runs, deployments and incidents: each signal queues the notifications
and commit statuses it calls for, and nothing more (the delivery thread sends them), so
a run never waits for a receiver nor fails because of one.

Keys make each message once: ``<event>:<what>:<id>:<channel>`` for notifications,
``status:<run>:<phase>`` for commit statuses.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from conveyor.server.monitoring.models import Incident
from conveyor.server.notifications import delivery, messages
from conveyor.server.notifications.models import (
    ENVIRONMENT_EVENTS,
    Channel,
    Event,
    ForgeStatus,
    OutboundKind,
)
from conveyor.server.repos.models import Environment, Repository
from conveyor.server.runs import signals
from conveyor.server.runs.models import Deployment, Run, Status

ROLLED_BACK_STATES = ("rolled-back", "failed")


def connect() -> None:
    for signal, receiver in (
        (signals.run_created, on_run_created),
        (signals.run_started, on_run_started),
        (signals.run_finished, on_run_finished),
        (signals.deployment_changed, on_deployment_changed),
        (signals.incident_changed, on_incident_changed),
    ):
        signal.connect(receiver, weak=False, dispatch_uid=f"notifications-{receiver.__name__}")


def channels_for(
    repository: Repository, event: str, environment: Environment | None
) -> list[Channel]:
    """The enabled channels that want ``event``: the repository's own, and the
    environment's for an environment's event."""
    scope = Q(environment__isnull=True)
    if environment is not None and event in ENVIRONMENT_EVENTS:
        scope |= Q(environment=environment)
    rows = Channel.objects.filter(scope, repository=repository, enabled=True)
    return [channel for channel in rows if event in channel.events]


def notify(
    event: str,
    subject: str,
    repository: Repository,
    environment: Environment | None,
    message: dict[str, Any],
) -> None:
    for channel in channels_for(repository, event, environment):
        delivery.queue(
            f"{event}:{subject}:{channel.pk}",
            OutboundKind.NOTIFICATION,
            repository,
            event,
            message,
            channel=channel,
        )


# Runs --------------------------------------------------------------------------------


def on_run_created(run: Run, **_: Any) -> None:
    description = "Waiting for approval" if run.status == Status.WAITING else "Queued"
    queue_commit_status(run, "created", description)


def on_run_started(run: Run, **_: Any) -> None:
    queue_commit_status(run, "started", "Running")


def on_run_finished(run: Run, **_: Any) -> None:
    queue_commit_status(run, "finished", _ended(run))
    if run.status == Status.FAILURE:
        notify(Event.RUN_FAILED, f"run:{run.pk}", run.repository, None, _run(Event.RUN_FAILED, run))
    elif run.status == Status.SUCCESS and follows_a_failure(run):
        notify(Event.RUN_FIXED, f"run:{run.pk}", run.repository, None, _run(Event.RUN_FIXED, run))


def _run(event: str, run: Run) -> dict[str, Any]:
    return messages.run_message(event, run)


def follows_a_failure(run: Run) -> bool:
    """Whether the run before this one of the same workflow on the same ref (the last
    that succeeded or failed; cancelled and skipped runs say nothing) failed."""
    previous = (
        Run.objects.filter(
            repository_id=run.repository_id,
            workflow_path=run.workflow_path,
            ref=run.ref,
            number__lt=run.number,
            status__in=(Status.SUCCESS, Status.FAILURE),
        )
        .order_by("-number")
        .values_list("status", flat=True)
        .first()
    )
    return previous == Status.FAILURE


def _ended(run: Run) -> str:
    if run.status == Status.SUCCESS:
        duration = run.duration
        seconds = f" in {int(duration.total_seconds())} s" if duration is not None else ""
        return f"Succeeded{seconds}"
    if run.status == Status.CANCELLED:
        return "Cancelled"
    if run.status == Status.SKIPPED:
        return "Skipped"
    return f"Failed: {run.reason}" if run.reason else "Failed"


def queue_commit_status(run: Run, phase: str, description: str) -> None:
    """A commit status for the run's commit, when its repository sends them."""
    if not run.sha:
        return
    setting = ForgeStatus.objects.filter(repository_id=run.repository_id, enabled=True).first()
    if setting is None:
        return
    state = run.status if phase == "finished" else phase
    status = {
        "run_id": run.pk,
        "sha": run.sha,
        "ref": run.ref,
        "phase": state,
        "context": f"conveyor/{messages.workflow_of(run)}",
        "target_url": messages.run_url(run),
        "description": description,
    }
    delivery.queue(
        f"status:{run.pk}:{phase}", OutboundKind.COMMIT_STATUS, run.repository, state, status
    )


# Deployments and incidents -----------------------------------------------------------


def deployment_events(deployment: Deployment) -> list[str]:
    """What a deployment row's current state tells (each told once by its key)."""
    found = []
    if deployment.status == "running":
        found.append(Event.DEPLOY_STARTED)
    if deployment.state in ROLLED_BACK_STATES:
        found.append(Event.DEPLOY_ROLLED_BACK)
    elif deployment.status == "success":
        found.append(Event.DEPLOY_SUCCEEDED)
    return found


def on_deployment_changed(deployment: Deployment, **_: Any) -> None:
    deployment = Deployment.objects.select_related("run__repository", "environment").get(
        pk=deployment.pk
    )
    for event in deployment_events(deployment):
        notify(
            event,
            f"deployment:{deployment.pk}",
            deployment.run.repository,
            deployment.environment,
            messages.deployment_message(event, deployment),
        )


def on_incident_changed(incident: Incident, **_: Any) -> None:
    incident = Incident.objects.select_related("environment__repository").get(pk=incident.pk)
    event = Event.INCIDENT_OPENED if incident.resolved_at is None else Event.INCIDENT_RESOLVED
    notify(
        event,
        f"incident:{incident.pk}",
        incident.environment.repository,
        incident.environment,
        messages.incident_message(event, incident),
    )
