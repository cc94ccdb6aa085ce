"""What a notification says: one plain dictionary per event, the same for every channel
(each channel's body is made from it in ``bodies``).

Only what a team member may read goes in: names, the commit, the run's status and its
reason (masked by the run path before it was stored), links. Never a log line, a
secret, a variable or a channel's own settings.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from conveyor.server.monitoring.models import Incident
from conveyor.server.notifications.models import Event
from conveyor.server.runs.models import Deployment, Run

Message = dict[str, Any]

# Enough to say why, short enough for a chat line and a subject.
REASON_LIMIT = 500


def run_url(run: Run) -> str:
    return f"{settings.CONVEYOR_URL}/repos/{run.repository.name}/runs/{run.number}/"


def environment_url(repository: str, environment: str) -> str:
    return f"{settings.CONVEYOR_URL}/repos/{repository}/environments/{environment}/"


def workflow_of(run: Run) -> str:
    return run.workflow_name or run.workflow_path


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _short(text: str, limit: int = REASON_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_fields(run: Run) -> dict[str, Any]:
    return {
        "number": run.number,
        "workflow": workflow_of(run),
        "status": run.status,
        "event": run.event,
        "ref": run.ref,
        "branch": run.branch,
        "sha": run.sha,
        "commit_message": _first_line(run.commit_message),
        "actor": run.actor,
        "reason": _short(run.reason),
        "url": run_url(run),
    }


def _where(run: Run) -> str:
    return f" on {run.branch}" if run.branch else (f" for {run.ref}" if run.ref else "")


def run_message(event: str, run: Run) -> Message:
    repository = run.repository.name
    head = f"{repository}: {workflow_of(run)} #{run.number}{_where(run)}"
    if event == Event.RUN_FIXED:
        title = f"{head} is fixed"
        summary = f"The run succeeded after a failure (commit {run.short_sha})."
    else:
        title = f"{head} failed"
        reason = _short(run.reason) or "a job failed"
        summary = f"The run failed: {reason} (commit {run.short_sha})."
    return {
        "event": event,
        "title": title,
        "summary": summary,
        "url": run_url(run),
        "repository": repository,
        "environment": None,
        "run": run_fields(run),
    }


def deployment_message(event: str, deployment: Deployment) -> Message:
    run = deployment.run
    repository = run.repository.name
    environment = deployment.environment.name if deployment.environment else None
    where = environment or deployment.target or deployment.job_key
    verb = {
        Event.DEPLOY_STARTED: "started deploying",
        Event.DEPLOY_SUCCEEDED: "deployed",
        Event.DEPLOY_ROLLED_BACK: "rolled back" if deployment.state == "rolled-back" else "failed",
    }[Event(event)]
    release = f" {deployment.release}" if deployment.release else ""
    title = f"{repository}: {verb}{release} to {where}"
    if event == Event.DEPLOY_ROLLED_BACK:
        title = f"{repository}: deploy{release} to {where} {verb}"
    summary = f"Commit {deployment.sha[:7] or run.short_sha} from run #{run.number}"
    if deployment.reason and event == Event.DEPLOY_ROLLED_BACK:
        summary += f": {_short(deployment.reason)}"
    return {
        "event": event,
        "title": title,
        "summary": summary + ".",
        "url": environment_url(repository, environment) if environment else run_url(run),
        "repository": repository,
        "environment": environment,
        "run": run_fields(run),
        "deployment": {
            "id": deployment.pk,
            "job": deployment.job_key,
            "status": deployment.status,
            "state": deployment.state,
            "target": deployment.target,
            "release": deployment.release,
            "url": deployment.url,
            "sha": deployment.sha,
        },
    }


def incident_message(event: str, incident: Incident) -> Message:
    environment = incident.environment
    repository = environment.repository.name
    if event == Event.INCIDENT_RESOLVED:
        title = f"{repository}: {environment.name} is up again"
        duration = incident.duration
        seconds = int(duration.total_seconds()) if duration is not None else 0
        summary = f"{incident.url} answers again after {seconds} s down."
    else:
        title = f"{repository}: {environment.name} is down"
        summary = f"{incident.url}: {_short(incident.reason)}"
    return {
        "event": event,
        "title": title,
        "summary": summary,
        "url": environment_url(repository, environment.name),
        "repository": repository,
        "environment": environment.name,
        "incident": {
            "id": incident.pk,
            "url": incident.url,
            "reason": _short(incident.reason),
            "opened_at": incident.opened_at.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        },
    }
