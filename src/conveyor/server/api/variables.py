"""``/api/repositories/{name}/variables``: the ``vars`` context of a repository's runs.

Variables are configuration, not secrets: their values are stored as they are and
shown. Admins set and delete them; members list them. Every run gets them, the
run of a pull request from a fork too (as on GitHub), so a value that must not
reach a fork belongs in a secret.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Router
from ninja import Status as Reply

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.errors import bad_input, not_found
from conveyor.server.api.schemas import ErrorOut, VariableIn, VariableOut
from conveyor.server.api.secrets import VALUE_MAX, check_name
from conveyor.server.repos.models import Variable

router = Router(tags=["variables"])


def _variable_out(variable: Variable) -> dict[str, Any]:
    return {"name": variable.name, "value": variable.value, "updated_at": variable.updated_at}


@router.get(
    "/{name}/variables",
    response={200: list[VariableOut], 403: ErrorOut, 404: ErrorOut},
    summary="List a repository's variables (member)",
)
def list_variables(request: HttpRequest, name: str) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.MEMBER)
    repository = lookups.repository(name)
    return [_variable_out(variable) for variable in repository.variables.order_by("name")]


@router.put(
    "/{name}/variables/{variable_name}",
    response={200: VariableOut, 201: VariableOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Create or replace a variable (admin)",
)
def put_variable(
    request: HttpRequest, name: str, variable_name: str, body: VariableIn
) -> Reply[dict[str, Any]]:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    check_name("variable", "variable_name", variable_name)
    if len(body.value) > VALUE_MAX:
        raise bad_input("value", f"longer than {VALUE_MAX // 1024} KiB")
    with transaction.atomic():
        variable, created = Variable.objects.update_or_create(
            repository=repository, name=variable_name, defaults={"value": body.value}
        )
    return Reply(201 if created else 200, _variable_out(variable))


@router.delete(
    "/{name}/variables/{variable_name}",
    response={204: None, 403: ErrorOut, 404: ErrorOut},
    summary="Delete a variable (admin)",
)
def delete_variable(request: HttpRequest, name: str, variable_name: str) -> HttpResponse:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    deleted, _ = repository.variables.filter(name=variable_name).delete()
    if not deleted:
        raise not_found(f"repository {name!r} has no variable {variable_name!r}")
    return HttpResponse(status=204)
