"""``/api/repositories/{name}/environments``: deployment environments (GitHub's
``environment:``), their protection rules, secrets and variables, and their deployment
history with approval. Viewers see environments and deployments; members approve or
reject a deployment waiting for approval and list variables and secret names; admins
set rules, secrets and variables. An environment a workflow names is made on its first
deployment (no rules) when no admin made it before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja import Status as Reply

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.errors import bad_input, conflict, not_found
from conveyor.server.api.schemas import ErrorOut, SecretIn, SecretOut, VariableIn, VariableOut
from conveyor.server.api.secrets import VALUE_MAX, check_name
from conveyor.server.repos.models import (
    Environment,
    EnvironmentSecret,
    EnvironmentVariable,
    Repository,
)
from conveyor.server.runs import environments as gate
from conveyor.server.runs.models import Deployment
from conveyor.workflow.globs import GlobError, check_glob

router = Router(tags=["environments"])
HISTORY_LIMIT = 100


class EnvironmentIn(Schema):
    required_approval: bool = Field(
        False, description="A job deploying here waits until a member approves it."
    )
    allowed_branches: list[str] = Field(
        default_factory=list,
        description="Branch patterns (as on.push.branches) that may deploy; empty: any.",
    )


class EnvironmentOut(Schema):
    name: str
    required_approval: bool
    allowed_branches: list[str]
    created_at: datetime


class DeploymentOut(Schema):
    id: int
    environment: str | None
    run_number: int
    job_key: str
    status: str = Field(description="waiting, queued, running, success, failure, cancelled")
    state: str = Field(
        description="What the deploy step reported last: deploying, health-checking, live, "
        "failed, rolled-back; '' if it reported nothing"
    )
    reason: str
    sha: str
    ref: str
    triggered_by: str
    approved_by: str
    approved_at: datetime | None
    url: str
    target: str
    release: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None


def environment_out(environment: Environment) -> dict[str, Any]:
    return {
        "name": environment.name,
        "required_approval": environment.required_approval,
        "allowed_branches": environment.branch_patterns,
        "created_at": environment.created_at,
    }


def deployment_out(deployment: Deployment) -> dict[str, Any]:
    duration = deployment.duration
    return {
        "id": deployment.pk,
        "environment": deployment.environment.name if deployment.environment else None,
        "run_number": deployment.run.number,
        "job_key": deployment.job_key,
        "status": deployment.status,
        "state": deployment.state,
        "reason": deployment.reason,
        "sha": deployment.sha,
        "ref": deployment.ref,
        "triggered_by": deployment.triggered_by,
        "approved_by": deployment.approved_by,
        "approved_at": deployment.approved_at,
        "url": deployment.url,
        "target": deployment.target,
        "release": deployment.release,
        "created_at": deployment.created_at,
        "started_at": deployment.started_at,
        "finished_at": deployment.finished_at,
        "duration_seconds": duration.total_seconds() if duration is not None else None,
    }


def _environment(repository: Repository, environment: str) -> Environment:
    found = repository.environments.filter(name=environment).first()
    if found is None:
        raise not_found(f"repository {repository.name!r} has no environment {environment!r}")
    return found


@router.get(
    "/{name}/environments",
    response={200: list[EnvironmentOut], 403: ErrorOut, 404: ErrorOut},
    summary="List a repository's environments (viewer)",
)
def list_environments(request: HttpRequest, name: str) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.VIEWER)
    repository = lookups.repository(name)
    return [environment_out(item) for item in repository.environments.order_by("name")]


@router.put(
    "/{name}/environments/{environment}",
    response={
        200: EnvironmentOut,
        201: EnvironmentOut,
        400: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
    },
    summary="Create an environment or replace its protection rules (admin)",
)
def put_environment(
    request: HttpRequest, name: str, environment: str, body: EnvironmentIn
) -> Reply[dict[str, Any]]:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    if not environment.strip() or len(environment) > 255:
        raise bad_input("environment", "an environment's name is 1 to 255 characters")
    patterns = [pattern.strip() for pattern in body.allowed_branches if pattern.strip()]
    for pattern in patterns:
        try:
            check_glob(pattern)
        except GlobError as error:
            raise bad_input("allowed_branches", f"{pattern!r}: {error}") from None
    with transaction.atomic():
        found, created = Environment.objects.get_or_create(repository=repository, name=environment)
        found.required_approval = body.required_approval
        found.allowed_branches = "\n".join(patterns)
        found.save()
    return Reply(201 if created else 200, environment_out(found))


@router.delete(
    "/{name}/environments/{environment}",
    response={204: None, 403: ErrorOut, 404: ErrorOut},
    summary="Delete an environment, its secrets, variables and history (admin)",
)
def delete_environment(request: HttpRequest, name: str, environment: str) -> HttpResponse:
    lookups.require_role(request, Role.ADMIN)
    _environment(lookups.repository(name), environment).delete()
    return HttpResponse(status=204)


@router.get(
    "/{name}/environments/{environment}/deployments",
    response={200: list[DeploymentOut], 403: ErrorOut, 404: ErrorOut},
    summary="An environment's deployments, newest first (viewer)",
)
def list_deployments(request: HttpRequest, name: str, environment: str) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.VIEWER)
    found = _environment(lookups.repository(name), environment)
    rows = found.deployments.select_related("run", "environment").order_by("-pk")
    return [deployment_out(row) for row in rows[:HISTORY_LIMIT]]


def _deployment(name: str, environment: str, deployment_id: int) -> Deployment:
    found = _environment(lookups.repository(name), environment)
    deployment = (
        found.deployments.select_related("run", "environment").filter(pk=deployment_id).first()
    )
    if deployment is None:
        raise not_found(f"environment {environment!r} has no deployment {deployment_id}")
    return deployment


@router.post(
    "/{name}/environments/{environment}/deployments/{deployment_id}/approve",
    response={200: DeploymentOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Approve a deployment waiting for approval (member)",
)
def approve_deployment(
    request: HttpRequest, name: str, environment: str, deployment_id: int
) -> dict[str, Any]:
    """Its job goes on when the environment is free. 409 when it is not waiting."""
    return _decide(request, name, environment, deployment_id, gate.approve_deployment)


@router.post(
    "/{name}/environments/{environment}/deployments/{deployment_id}/reject",
    response={200: DeploymentOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Reject a deployment waiting for approval: its job fails unrun (member)",
)
def reject_deployment(
    request: HttpRequest, name: str, environment: str, deployment_id: int
) -> dict[str, Any]:
    return _decide(request, name, environment, deployment_id, gate.reject_deployment)


def _decide(
    request: HttpRequest,
    name: str,
    environment: str,
    deployment_id: int,
    decision: Callable[..., object],
) -> dict[str, Any]:
    """A member approves or rejects a waiting deployment; 409 when it is not waiting."""
    user = lookups.require_role(request, Role.MEMBER)
    deployment = _deployment(name, environment, deployment_id)
    try:
        decision(deployment, by=user.username)
    except gate.DeploymentDenied as denied:
        raise conflict(str(denied)) from None
    return deployment_out(deployment)


@router.get(
    "/{name}/environments/{environment}/secrets",
    response={200: list[SecretOut], 403: ErrorOut, 404: ErrorOut},
    summary="List an environment's secret names (member)",
)
def list_secrets(request: HttpRequest, name: str, environment: str) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.MEMBER)
    found = _environment(lookups.repository(name), environment)
    return [{"name": item.name, "updated_at": item.updated_at} for item in found.secrets.all()]


@router.put(
    "/{name}/environments/{environment}/secrets/{secret_name}",
    response={200: SecretOut, 201: SecretOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Create or replace an environment secret (admin); the value is never returned",
)
def put_secret(
    request: HttpRequest, name: str, environment: str, secret_name: str, body: SecretIn
) -> Reply[dict[str, Any]]:
    lookups.require_role(request, Role.ADMIN)
    found = _environment(lookups.repository(name), environment)
    check_name("secret", "secret_name", secret_name)
    _check_value(body.value)
    with transaction.atomic():
        secret = found.secrets.filter(name=secret_name).first()
        created = secret is None
        secret = secret or EnvironmentSecret(environment=found, name=secret_name)
        secret.set(body.value)
        secret.save()
    return Reply(201 if created else 200, {"name": secret.name, "updated_at": secret.updated_at})


@router.delete(
    "/{name}/environments/{environment}/secrets/{secret_name}",
    response={204: None, 403: ErrorOut, 404: ErrorOut},
    summary="Delete an environment secret (admin)",
)
def delete_secret(
    request: HttpRequest, name: str, environment: str, secret_name: str
) -> HttpResponse:
    lookups.require_role(request, Role.ADMIN)
    found = _environment(lookups.repository(name), environment)
    deleted, _ = found.secrets.filter(name=secret_name).delete()
    if not deleted:
        raise not_found(f"environment {environment!r} has no secret {secret_name!r}")
    return HttpResponse(status=204)


@router.get(
    "/{name}/environments/{environment}/variables",
    response={200: list[VariableOut], 403: ErrorOut, 404: ErrorOut},
    summary="List an environment's variables (member)",
)
def list_variables(request: HttpRequest, name: str, environment: str) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.MEMBER)
    found = _environment(lookups.repository(name), environment)
    return [_variable_out(item) for item in found.variables.all()]


def _variable_out(variable: EnvironmentVariable) -> dict[str, Any]:
    return {"name": variable.name, "value": variable.value, "updated_at": variable.updated_at}


@router.put(
    "/{name}/environments/{environment}/variables/{variable_name}",
    response={200: VariableOut, 201: VariableOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Create or replace an environment variable (admin)",
)
def put_variable(
    request: HttpRequest, name: str, environment: str, variable_name: str, body: VariableIn
) -> Reply[dict[str, Any]]:
    lookups.require_role(request, Role.ADMIN)
    found = _environment(lookups.repository(name), environment)
    check_name("variable", "variable_name", variable_name)
    _check_value(body.value)
    variable, created = EnvironmentVariable.objects.update_or_create(
        environment=found, name=variable_name, defaults={"value": body.value}
    )
    return Reply(201 if created else 200, _variable_out(variable))


@router.delete(
    "/{name}/environments/{environment}/variables/{variable_name}",
    response={204: None, 403: ErrorOut, 404: ErrorOut},
    summary="Delete an environment variable (admin)",
)
def delete_variable(
    request: HttpRequest, name: str, environment: str, variable_name: str
) -> HttpResponse:
    lookups.require_role(request, Role.ADMIN)
    found = _environment(lookups.repository(name), environment)
    deleted, _ = found.variables.filter(name=variable_name).delete()
    if not deleted:
        raise not_found(f"environment {environment!r} has no variable {variable_name!r}")
    return HttpResponse(status=204)


def _check_value(value: str) -> None:
    if not value:
        raise bad_input("value", "must not be empty")
    if len(value) > VALUE_MAX:
        raise bad_input("value", f"longer than {VALUE_MAX // 1024} KiB")
