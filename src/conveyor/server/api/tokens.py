"""``/api/tokens``: your API tokens. Issuing one needs your password (HTTP Basic) or a
logged-in session, never another token; the token is in that one response only
(only its sha256 is kept). Deleting a token revokes it at once."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router
from ninja import Status as Reply

from conveyor.server.accounts.auth import issue_auth
from conveyor.server.accounts.models import ApiToken, Role
from conveyor.server.accounts.permissions import can_admin, can_trigger, role_of
from conveyor.server.api import lookups
from conveyor.server.api.errors import bad_input, not_found
from conveyor.server.api.schemas import ErrorOut, MeOut, TokenCreatedOut, TokenIn, TokenOut

router = Router(tags=["tokens"])

NAME_MAX = 200


def _token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "user": token.user.get_username(),
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
    }


@router.get("/me", response=MeOut, summary="Who you are and what you may do", tags=["me"])
def me(request: HttpRequest) -> dict[str, Any]:
    user = lookups.require_role(request, Role.VIEWER)
    return {
        "username": user.get_username(),
        "role": role_of(user),
        "can_trigger": can_trigger(user),
        "can_admin": can_admin(user),
    }


@router.get("/tokens", response=list[TokenOut], summary="List your API tokens")
def list_tokens(request: HttpRequest) -> list[dict[str, Any]]:
    user = lookups.require_role(request, Role.VIEWER)
    tokens = ApiToken.objects.filter(user=user).select_related("user").order_by("-created_at")
    return [_token_out(token) for token in tokens]


@router.post(
    "/tokens",
    auth=issue_auth(),
    response={201: TokenCreatedOut, 400: ErrorOut, 401: ErrorOut},
    summary="Issue an API token (password or session; the token is shown once)",
)
def create_token(request: HttpRequest, body: TokenIn) -> Reply[dict[str, Any]]:
    user = lookups.require_role(request, Role.VIEWER)
    name = body.name.strip()
    if not name:
        raise bad_input("name", "must not be empty: say what the token is for")
    if len(name) > NAME_MAX:
        raise bad_input("name", f"longer than {NAME_MAX} characters")
    token, plain_text = ApiToken.issue(user, name)
    return Reply(201, {**_token_out(token), "token": plain_text})


@router.delete(
    "/tokens/{token_id}",
    response={204: None, 404: ErrorOut},
    summary="Revoke an API token (yours; an admin may revoke anyone's)",
)
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    user = lookups.require_role(request, Role.VIEWER)
    tokens = ApiToken.objects.filter(pk=token_id)
    if not can_admin(user):
        tokens = tokens.filter(user=user)
    deleted, _ = tokens.delete()
    if not deleted:
        raise not_found(f"you have no API token {token_id}")
    return HttpResponse(status=204)
