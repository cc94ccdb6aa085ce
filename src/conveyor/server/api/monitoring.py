"""``/api/repositories/{name}/environments/{environment}/health|incidents|rollback``: what
the health watch sees of an environment, its settings, its incidents, and rollback from
the server (docs/monitoring.md). Viewers read; admins set the health URL and automatic
rollback; members roll back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja import Status as Reply

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.environments import DeploymentOut, deployment_out
from conveyor.server.api.environments import _environment as environment_of
from conveyor.server.api.errors import bad_input, conflict
from conveyor.server.api.schemas import ErrorOut
from conveyor.server.monitoring import timeline
from conveyor.server.monitoring.models import Incident
from conveyor.server.monitoring.rollback import RollbackRefused, rollback_environment
from conveyor.server.repos.models import Environment

router = Router(tags=["monitoring"])
INCIDENTS_LIMIT = 100


class HealthOut(Schema):
    state: str = Field(description="up, down, or unknown (never checked, or nothing to check)")
    since: datetime | None = Field(description="when it became what it is")
    url: str = Field(description="what the watch checks: health_url, else the last live deploy's")
    health_url: str = Field(description="the URL set on the environment; '' for the deploy's")
    auto_rollback: bool
    last_checked_at: datetime | None
    last_result: str = Field(description="the last check: 'HTTP 200 in 3 ms', or what failed")
    closely_watched_until: datetime | None = Field(
        description="the end of the closer watch after its last deployment went live"
    )
    open_incident: int | None = Field(description="the id of the incident open now, if any")
    watching: bool = Field(description="whether this server's health watch checks it")


class HealthIn(Schema):
    health_url: str = Field("", description="http(s) URL to check; '' for the deploy's own")
    auto_rollback: bool = Field(
        False, description="roll back a deployment that fails its health check while watched"
    )


class IncidentOut(Schema):
    id: int
    url: str
    reason: str = Field(description="the failing response (status, start of the body) or error")
    opened_at: datetime
    resolved_at: datetime | None
    duration_seconds: float | None
    deployment: int | None = Field(description="the deployment that served when it opened")


class RollbackIn(Schema):
    to: str | None = Field(None, description="the release to serve (default: the one before)")


def _environment(name: str, environment: str) -> Environment:
    return environment_of(lookups.repository(name), environment)


def incident_out(incident: Incident) -> dict[str, Any]:
    duration = incident.duration
    return {
        "id": incident.pk,
        "url": incident.url,
        "reason": incident.reason,
        "opened_at": incident.opened_at,
        "resolved_at": incident.resolved_at,
        "duration_seconds": duration.total_seconds() if duration is not None else None,
        "deployment": incident.deployment_id,
    }


@router.get(
    "/{name}/environments/{environment}/health",
    response={200: HealthOut, 403: ErrorOut, 404: ErrorOut},
    summary="An environment's health as the watch saw it last (viewer)",
)
def get_health(request: HttpRequest, name: str, environment: str) -> dict[str, Any]:
    lookups.require_role(request, Role.VIEWER)
    return timeline.health_out(timeline.health_of(_environment(name, environment)))


@router.put(
    "/{name}/environments/{environment}/health",
    response={200: HealthOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Set an environment's health URL and automatic rollback (admin)",
)
def put_health(request: HttpRequest, name: str, environment: str, body: HealthIn) -> dict[str, Any]:
    lookups.require_role(request, Role.ADMIN)
    found = _environment(name, environment)
    problem = timeline.set_health_settings(found, body.health_url, body.auto_rollback)
    if problem:
        raise bad_input("health_url", problem.removeprefix("health URL: "))
    return timeline.health_out(timeline.health_of(found))


@router.get(
    "/{name}/environments/{environment}/incidents",
    response={200: list[IncidentOut], 403: ErrorOut, 404: ErrorOut},
    summary="An environment's incidents, newest first (viewer)",
)
def list_incidents(request: HttpRequest, name: str, environment: str) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.VIEWER)
    found = _environment(name, environment)
    rows = Incident.objects.filter(environment=found).order_by("-opened_at", "-pk")
    return [incident_out(row) for row in rows[:INCIDENTS_LIMIT]]


@router.post(
    "/{name}/environments/{environment}/rollback",
    response={202: DeploymentOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Roll the environment's live release back (member)",
)
def post_rollback(
    request: HttpRequest, name: str, environment: str, body: RollbackIn | None = None
) -> Reply[dict[str, Any]]:
    """Starts the rollback and answers 202 with its deployment (``running``); follow it
    in the deployments list. 409 when it cannot start (nothing live, a deployment in
    progress, a target the server may not or cannot reach), saying why."""
    user = lookups.require_role(request, Role.MEMBER)
    found = _environment(name, environment)
    try:
        row = rollback_environment(found, by=user.username, to=(body.to if body else None))
    except RollbackRefused as refused:
        raise conflict(str(refused)) from None
    return Reply(202, deployment_out(row))
