"""``/api/repositories/{name}/notifications`` and ``/commit-status``: where a
repository's notifications go (channels, per repository or per environment), what was
delivered (attempts, last error, next try), and the commit statuses sent to its forge.

Members see channels and deliveries; admins change them. No endpoint returns a
channel's secret, a chat webhook's full URL (its credential) or a forge token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja import Status as Reply

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.errors import bad_input, not_found
from conveyor.server.api.schemas import ErrorOut
from conveyor.server.notifications import config
from conveyor.server.notifications.forge_statuses import guess
from conveyor.server.notifications.models import Channel, ForgeStatus, Outbound
from conveyor.server.repos.models import Repository

router = Router(tags=["notifications"])
DELIVERIES_LIMIT = 100


class ChannelIn(Schema):
    kind: str = Field(description="email, webhook (signed JSON), slack or discord")
    target: str = Field(description="Comma-separated e-mail addresses, or the URL posted to.")
    events: list[str] = Field(
        description="run.failed, run.fixed, deploy.started, deploy.succeeded, "
        "deploy.rolled-back, incident.opened, incident.resolved"
    )
    environment: str | None = Field(
        None, description="Only this environment's deploys and incidents; null: the repository's."
    )
    secret: str | None = Field(
        None,
        description="A webhook channel signs its bodies with it (X-Conveyor-Signature); "
        'null keeps the current one, "" removes it.',
    )
    enabled: bool = True


class ChannelOut(Schema):
    name: str
    kind: str
    target: str = Field(description="A chat webhook's URL shows only its host.")
    events: list[str]
    environment: str | None
    has_secret: bool
    enabled: bool
    created_at: datetime


class DeliveryOut(Schema):
    id: int
    kind: str = Field(description="notification or commit-status")
    event: str
    channel: str | None
    status: str = Field(description="pending, sent, failed (given up), superseded")
    attempts: int
    last_error: str
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(description="null once sent or given up")
    sent_at: datetime | None
    created_at: datetime


class CommitStatusIn(Schema):
    forge: str | None = Field(None, description="github, gitlab or gitea; guessed when null")
    api_url: str | None = Field(None, description="The forge's API base URL; guessed when null")
    project: str | None = Field(
        None, description="owner/repository (GitLab: the project's id or full path)"
    )
    token: str | None = Field(None, description="Needed the first time; null keeps the current.")
    enabled: bool = True


class CommitStatusOut(Schema):
    configured: bool = Field(
        description="false: no statuses are sent; forge, api_url and project are then "
        "what the repository's URL suggests (null when it suggests nothing)"
    )
    forge: str | None
    api_url: str | None
    project: str | None
    enabled: bool
    token_set: bool
    updated_at: datetime | None


def channel_out(channel: Channel) -> dict[str, Any]:
    return {
        "name": channel.name,
        "kind": channel.kind,
        "target": config.shown_target(channel),
        "events": list(channel.events),
        "environment": channel.environment.name if channel.environment else None,
        "has_secret": channel.has_secret,
        "enabled": channel.enabled,
        "created_at": channel.created_at,
    }


def delivery_out(row: Outbound) -> dict[str, Any]:
    return {
        "id": row.pk,
        "kind": row.kind,
        "event": row.event,
        "channel": row.channel.name if row.channel else None,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "last_attempt_at": row.last_attempt_at,
        "next_attempt_at": row.next_attempt_at if row.status == "pending" else None,
        "sent_at": row.sent_at,
        "created_at": row.created_at,
    }


def _status_out(setting: ForgeStatus) -> dict[str, Any]:
    return {
        "configured": True,
        "forge": setting.forge,
        "api_url": setting.api_url,
        "project": setting.project,
        "enabled": setting.enabled,
        "token_set": bool(setting.value_encrypted),
        "updated_at": setting.updated_at,
    }


def _unset_out(repository: Repository) -> dict[str, Any]:
    suggested = guess(repository) or {}
    return {
        "configured": False,
        "forge": suggested.get("forge"),
        "api_url": suggested.get("api_url"),
        "project": suggested.get("project"),
        "enabled": False,
        "token_set": False,
        "updated_at": None,
    }


@router.get(
    "/{name}/notifications/channels",
    response={200: list[ChannelOut], 403: ErrorOut, 404: ErrorOut},
    summary="List a repository's notification channels (member)",
)
def list_channels(request: HttpRequest, name: str) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.MEMBER)
    repository = lookups.repository(name)
    rows = repository.notification_channels.select_related("environment").order_by("name")
    return [channel_out(channel) for channel in rows]


@router.put(
    "/{name}/notifications/channels/{channel}",
    response={200: ChannelOut, 201: ChannelOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Create or replace a notification channel (admin)",
)
def put_channel(
    request: HttpRequest, name: str, channel: str, body: ChannelIn
) -> Reply[dict[str, Any]]:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    try:
        saved, created = config.save_channel(repository, channel, **body.dict())
    except config.SettingInvalid as invalid:
        raise bad_input(invalid.field, invalid.problem) from None
    return Reply(201 if created else 200, channel_out(saved))


@router.delete(
    "/{name}/notifications/channels/{channel}",
    response={204: None, 403: ErrorOut, 404: ErrorOut},
    summary="Delete a notification channel and its deliveries (admin)",
)
def delete_channel(request: HttpRequest, name: str, channel: str) -> HttpResponse:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    deleted, _ = repository.notification_channels.filter(name=channel).delete()
    if not deleted:
        raise not_found(f"repository {name!r} has no notification channel {channel!r}")
    return HttpResponse(status=204)


@router.get(
    "/{name}/notifications/deliveries",
    response={200: list[DeliveryOut], 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="The latest notification and commit status deliveries (member)",
)
def list_deliveries(
    request: HttpRequest, name: str, status: str | None = None
) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.MEMBER)
    repository = lookups.repository(name)
    rows = Outbound.objects.filter(repository=repository).select_related("channel")
    if status:
        if status not in ("pending", "sent", "failed", "superseded"):
            raise bad_input("status", "one of pending, sent, failed, superseded")
        rows = rows.filter(status=status)
    return [delivery_out(row) for row in rows.order_by("-pk")[:DELIVERIES_LIMIT]]


@router.get(
    "/{name}/commit-status",
    response={200: CommitStatusOut, 403: ErrorOut, 404: ErrorOut},
    summary="The repository's commit status setting, or what its URL suggests (member); "
    "never the token",
)
def get_commit_status(request: HttpRequest, name: str) -> dict[str, Any]:
    lookups.require_role(request, Role.MEMBER)
    repository = lookups.repository(name)
    setting = ForgeStatus.objects.filter(repository=repository).first()
    return _status_out(setting) if setting else _unset_out(repository)


@router.put(
    "/{name}/commit-status",
    response={
        200: CommitStatusOut,
        201: CommitStatusOut,
        400: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
    },
    summary="Send commit statuses to the repository's forge (admin); fields left out are guessed",
)
def put_commit_status(
    request: HttpRequest, name: str, body: CommitStatusIn
) -> Reply[dict[str, Any]]:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    try:
        setting, created = config.save_forge_status(repository, **body.dict())
    except config.SettingInvalid as invalid:
        raise bad_input(invalid.field, invalid.problem) from None
    return Reply(201 if created else 200, _status_out(setting))


@router.delete(
    "/{name}/commit-status",
    response={204: None, 403: ErrorOut, 404: ErrorOut},
    summary="Stop sending commit statuses and forget the token (admin)",
)
def delete_commit_status(request: HttpRequest, name: str) -> HttpResponse:
    lookups.require_role(request, Role.ADMIN)
    repository = lookups.repository(name)
    deleted, _ = ForgeStatus.objects.filter(repository=repository).delete()
    if not deleted:
        raise not_found(f"repository {name!r} sends no commit statuses")
    return HttpResponse(status=204)
