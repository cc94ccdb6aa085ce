"""``/api/repositories/{name}/secrets``: names only. Admins set and delete; members
see which exist. No endpoint ever returns a value: it goes in, encrypted, and
comes out only into a run's environment (masked in its logs)."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Router
from ninja import Status as Reply

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.errors import bad_input, not_found
from conveyor.server.api.schemas import ErrorOut, SecretIn, SecretOut
from conveyor.server.repos.models import Secret

router = Router(tags=["secrets"])

# As on GitHub: letters, digits and underscores, not starting with a digit or GITHUB_.
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VALUE_MAX = 64 * 1024


def check_name(kind: str, field: str, name: str) -> None:
    """GitHub's rule for secret and variable names; a 400 naming ``field`` otherwise."""
    if not SECRET_NAME.match(name) or name.upper().startswith("GITHUB_"):
        raise bad_input(
            field,
            f"{name!r} is not a valid {kind} name: letters, digits and '_', "
            "not starting with a digit or GITHUB_",
        )


def _secret_out(secret: Secret) -> dict[str, Any]:
    return {"name": secret.name, "updated_at": secret.updated_at}


@router.get(
    "/{name}/secrets",
    response={200: list[SecretOut], 403: ErrorOut, 404: ErrorOut},
    summary="List a repository's secret names (member)",
)
def list_secrets(request: HttpRequest, name: str) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.MEMBER)
    repository = lookups.repository(name)
    return [_secret_out(secret) for secret in repository.secrets.order_by("name")]


@router.put(
    "/{name}/secrets/{secret_name}",
    response={200: SecretOut, 201: SecretOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Create or replace a secret (admin); the value is never returned",
)
def put_secret(
    request: HttpRequest, name: str, secret_name: str, body: SecretIn
) -> Reply[dict[str, Any]]:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    check_name("secret", "secret_name", secret_name)
    if not body.value:
        raise bad_input("value", "must not be empty")
    if len(body.value) > VALUE_MAX:
        raise bad_input("value", f"longer than {VALUE_MAX // 1024} KiB")
    with transaction.atomic():
        secret = repository.secrets.filter(name=secret_name).first()
        created = secret is None
        if secret is None:
            secret = Secret(repository=repository, name=secret_name)
        secret.set(body.value)
        secret.save()
    return Reply(201 if created else 200, _secret_out(secret))


@router.delete(
    "/{name}/secrets/{secret_name}",
    response={204: None, 403: ErrorOut, 404: ErrorOut},
    summary="Delete a secret (admin)",
)
def delete_secret(request: HttpRequest, name: str, secret_name: str) -> HttpResponse:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    deleted, _ = repository.secrets.filter(name=secret_name).delete()
    if not deleted:
        raise not_found(f"repository {name!r} has no secret {secret_name!r}")
    return HttpResponse(status=204)
