"""``/api/repositories/{name}/services``: where a repository's workflow services run.

The server starts no service containers: a workflow's ``services.<id>`` is mapped to a
service that already runs (``HOST:PORT``, or ``HOST:PORT,PORT`` for a service's ports in
the order its ``ports:`` lists them). Admins set and delete mappings; members list them.
A job's sandbox reaches them only when it has the host's network
(``CONVEYOR_SANDBOX_NETWORK=true``, the default).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Router
from ninja import Status as Reply

from conveyor.engine.services import SERVICE_NAME, parse_service_address
from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.errors import bad_input, not_found
from conveyor.server.api.schemas import ErrorOut, ServiceMappingIn, ServiceMappingOut
from conveyor.server.repos.models import ServiceMapping, service_name_problem

router = Router(tags=["services"])


def _mapping_out(mapping: ServiceMapping) -> dict[str, Any]:
    return {"name": mapping.name, "address": mapping.address, "updated_at": mapping.updated_at}


@router.get(
    "/{name}/services",
    response={200: list[ServiceMappingOut], 403: ErrorOut, 404: ErrorOut},
    summary="List where a repository's workflow services run (member)",
)
def list_service_mappings(request: HttpRequest, name: str) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.MEMBER)
    repository = lookups.repository(name)
    return [_mapping_out(mapping) for mapping in repository.service_mappings.order_by("name")]


@router.put(
    "/{name}/services/{service_name}",
    response={
        200: ServiceMappingOut,
        201: ServiceMappingOut,
        400: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
    },
    summary="Map a workflow service to where it runs (admin)",
)
def put_service_mapping(
    request: HttpRequest, name: str, service_name: str, body: ServiceMappingIn
) -> Reply[dict[str, Any]]:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    if not SERVICE_NAME.fullmatch(service_name):
        raise bad_input("service_name", service_name_problem(service_name))
    try:
        address = parse_service_address(body.address)
    except ValueError as error:
        raise bad_input("address", str(error)) from None
    with transaction.atomic():
        mapping, created = ServiceMapping.objects.update_or_create(
            repository=repository, name=service_name, defaults={"address": str(address)}
        )
    return Reply(201 if created else 200, _mapping_out(mapping))


@router.delete(
    "/{name}/services/{service_name}",
    response={204: None, 403: ErrorOut, 404: ErrorOut},
    summary="Remove a service mapping (admin)",
)
def delete_service_mapping(request: HttpRequest, name: str, service_name: str) -> HttpResponse:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    deleted, _ = repository.service_mappings.filter(name=service_name).delete()
    if not deleted:
        raise not_found(f"repository {name!r} maps no service {service_name!r}")
    return HttpResponse(status=204)
