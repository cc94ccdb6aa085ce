"""``GET /api/repositories/{name}/dora``: the DORA four keys of one environment over
7, 30 or 90 days, with the counts they come from (viewer). Definitions: docs/dora.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.errors import bad_input, not_found
from conveyor.server.api.schemas import ErrorOut
from conveyor.server.insights import dora
from conveyor.server.repos.models import Environment, Repository

router = Router(tags=["insights"])


class DoraOut(Schema):
    repository: str
    environment: str
    days: int = Field(description="The window: 7, 30 or 90 days ending now")
    start: datetime
    end: datetime
    deployment_frequency: float | None = Field(
        description="Successful deployments per day; null when no deployment finished"
    )
    lead_time_seconds: float | None = Field(
        description="Median seconds from a commit to its deployment going live; null when "
        "no successful deployment has a known commit time"
    )
    change_failure_rate: float | None = Field(
        description="Failed changes / deployments (0 to 1); null when no deployment finished"
    )
    time_to_restore_seconds: float | None = Field(
        description="Median seconds from an incident or a failed deployment to the next "
        "healthy state; null when nothing was restored"
    )
    deployments: int = Field(description="Deployments that finished (success or failure)")
    successful_deployments: int
    failed_changes: int = Field(
        description="Deployments that failed, were rolled back, or were followed by an "
        "incident before the next deployment"
    )
    lead_time_samples: int
    incidents: int = Field(description="Incidents that opened in the window")
    restore_samples: int
    unrestored: int = Field(description="Failures not restored yet (left out of the median)")


class DoraQuery(Schema):
    environment: str | None = Field(
        None,
        description="The environment's name; by default 'production', or the repository's "
        "only environment",
    )
    days: int = Field(30, description="The window in days: 7, 30 or 90")


def environment_of(repository: Repository, name: str | None) -> Environment:
    if name is None:
        chosen = dora.preferred_environment(list(repository.environments.order_by("name")))
        if chosen is None:
            known = ", ".join(repository.environments.values_list("name", flat=True))
            raise bad_input(
                "environment",
                f"name one of {known}"
                if known
                else f"repository {repository.name!r} has no "
                "environment yet: its deployments name one with `environment:`",
            )
        return chosen
    found = repository.environments.filter(name=name).first()
    if found is None:
        known = ", ".join(repository.environments.values_list("name", flat=True)) or "none"
        raise not_found(
            f"repository {repository.name!r} has no environment {name!r} (environments: {known})"
        )
    return found


def check_days(days: int) -> int:
    if days not in dora.WINDOWS:
        raise bad_input("days", f"{days} is not a window: use 7, 30 or 90")
    return days


@router.get(
    "/{name}/dora",
    response={200: DoraOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="The DORA four keys of an environment over 7, 30 or 90 days (viewer)",
)
def get_dora(request: HttpRequest, name: str, query: Query[DoraQuery]) -> dict[str, Any]:
    lookups.require_role(request, Role.VIEWER)
    repository = lookups.repository(name)
    days = check_days(query.days)
    return dora.report(environment_of(repository, query.environment), days)
