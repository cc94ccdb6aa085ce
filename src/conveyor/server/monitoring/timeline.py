"""An environment's timeline: its deployments (rollbacks among them) and its incidents
in one list, newest first, for its page and the API; and its health at a glance."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.utils import timezone

from conveyor.server.monitoring.models import Health, HealthCheck, Incident
from conveyor.server.monitoring.probe import url_problem
from conveyor.server.repos.models import Environment
from conveyor.server.runs.models import SERVER_ROLLBACK_JOB_PREFIX, Deployment


class Entry(NamedTuple):
    kind: str  # "deployment" or "incident"
    at: datetime
    item: Deployment | Incident


def timeline(environment: Environment, limit: int = 100) -> list[Entry]:
    """The newest ``limit`` deployments and incidents, merged, newest first."""
    deployments = environment.deployments.select_related("run").order_by("-pk")[:limit]
    incidents = Incident.objects.filter(environment=environment).select_related("deployment__run")[
        :limit
    ]
    entries = [Entry("deployment", row.created_at, row) for row in deployments]
    entries += [Entry("incident", row.opened_at, row) for row in incidents]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


def is_server_rollback(deployment: Deployment) -> bool:
    return deployment.job_key.startswith(SERVER_ROLLBACK_JOB_PREFIX)


def health_of(environment: Environment) -> HealthCheck:
    """Its HealthCheck (unsaved, all defaults, when it has none yet)."""
    found = HealthCheck.objects.filter(environment=environment).first()
    return found or HealthCheck(environment=environment)


def closely_watched_until(check: HealthCheck) -> datetime | None:
    """When the closer watch after the last deployment ends (None: not watched closely)."""
    if check.watched_from is None:
        return None
    until = check.watched_from + timezone.timedelta(minutes=settings.CONVEYOR_HEALTH_CLOSE_MINUTES)
    return until if until > timezone.now() else None


def health_out(check: HealthCheck) -> dict[str, Any]:
    """The environment's health as the API gives it."""
    open_incident = (
        Incident.objects.filter(environment_id=check.environment_id, resolved_at__isnull=True)
        .values_list("pk", flat=True)
        .first()
        if check.pk
        else None
    )
    return {
        "state": check.state if check.url else Health.UNKNOWN.value,
        "since": check.state_since,
        "url": check.url,
        "health_url": check.health_url,
        "auto_rollback": check.auto_rollback,
        "last_checked_at": check.last_checked_at,
        "last_result": check.last_result,
        "closely_watched_until": closely_watched_until(check),
        "open_incident": open_incident,
        "watching": bool(settings.CONVEYOR_HEALTH_INTERVAL) and bool(check.url),
    }


def set_health_settings(environment: Environment, health_url: str, auto_rollback: bool) -> str:
    """Save a member's health URL ("" for the deployments' own) and automatic rollback;
    returns what is wrong with them ("" when saved)."""
    health_url = health_url.strip()
    if health_url:
        problem = url_problem(health_url)
        if problem is not None:
            return f"health URL: {problem}"
        if len(health_url) > 1000:
            return "health URL: longer than 1000 characters"
    check, _ = HealthCheck.objects.get_or_create(environment=environment)
    fields = ["health_url", "auto_rollback"]
    if check.health_url != health_url:
        # Another URL: what was seen of the old one says nothing of it.
        check.state, check.state_since, check.last_result = Health.UNKNOWN, None, ""
        fields += ["state", "state_since", "last_result"]
    check.health_url = health_url
    check.auto_rollback = auto_rollback
    check.save(update_fields=fields)
    from conveyor.server.monitoring.watch import running_watch

    watch = running_watch()
    if watch is not None:
        watch.check_soon(check.pk)
    return ""
