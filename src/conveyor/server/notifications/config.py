"""Checking and saving a channel or a commit status setting: one place for the UI's
forms and the API, each problem a ``SettingInvalid`` naming its field."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from conveyor.server.notifications.forge_statuses import (
    ForgeSettingInvalid,
    check_setting,
    guess,
)
from conveyor.server.notifications.models import (
    ENVIRONMENT_EVENTS,
    Channel,
    ChannelKind,
    Event,
    ForgeStatus,
)
from conveyor.server.repos.models import Repository

CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SECRET_MAX = 1000


class SettingInvalid(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_channel_name(name: str) -> None:
    if not CHANNEL_NAME.match(name):
        raise SettingInvalid(
            "name",
            f"{name!r} is not a channel name: a letter or digit first, then letters, digits, "
            "'.', '-' and '_' (at most 100)",
        )


def _check_url(target: str) -> None:
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingInvalid("target", f"{target!r} is not an http(s) URL")


def _check_addresses(target: str) -> None:
    addresses = [part.strip() for part in target.split(",") if part.strip()]
    if not addresses:
        raise SettingInvalid("target", "at least one e-mail address is needed")
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise SettingInvalid("target", f"{address!r} is not an e-mail address") from None


def save_channel(
    repository: Repository,
    name: str,
    *,
    kind: str,
    target: str,
    events: list[str],
    environment: str | None = None,
    secret: str | None = None,
    enabled: bool = True,
) -> tuple[Channel, bool]:
    """Create or replace the channel ``name``; ``secret`` None keeps the one it has, ""
    removes it. Returns (channel, created)."""
    check_channel_name(name)
    if kind not in ChannelKind.values:
        raise SettingInvalid("kind", f"{kind!r} is not one of {', '.join(ChannelKind.values)}")
    target = target.strip()
    if kind == ChannelKind.EMAIL:
        _check_addresses(target)
    else:
        _check_url(target)
    if len(target) > 2000:
        raise SettingInvalid("target", "longer than 2000 characters")
    unknown = [event for event in events if event not in Event.values]
    if unknown:
        raise SettingInvalid(
            "events", f"unknown event {unknown[0]!r} (events: {', '.join(Event.values)})"
        )
    if not events:
        raise SettingInvalid("events", "choose at least one event")
    found_environment = None
    if environment:
        found_environment = repository.environments.filter(name=environment).first()
        if found_environment is None:
            raise SettingInvalid(
                "environment", f"repository {repository.name!r} has no environment {environment!r}"
            )
        outside = [event for event in events if event not in ENVIRONMENT_EVENTS]
        if outside:
            raise SettingInvalid(
                "events",
                f"{outside[0]!r} is not an environment's event: an environment's channel "
                f"gets {', '.join(ENVIRONMENT_EVENTS)}",
            )
    if secret is not None and len(secret) > SECRET_MAX:
        raise SettingInvalid("secret", f"longer than {SECRET_MAX} characters")
    if secret and kind != ChannelKind.WEBHOOK:
        raise SettingInvalid("secret", "only a JSON webhook channel signs with a secret")
    with transaction.atomic():
        channel = Channel.objects.filter(repository=repository, name=name).first()
        created = channel is None
        if channel is None:
            channel = Channel(repository=repository, name=name)
        channel.kind = kind
        channel.target = target
        channel.events = [event for event in Event.values if event in events]
        channel.environment = found_environment
        channel.enabled = enabled
        if secret is not None:
            channel.set_secret(secret)
        if kind != ChannelKind.WEBHOOK:
            channel.set_secret("")
        channel.save()
    return channel, created


def shown_target(channel: Channel) -> str:
    """The target as members may see it: a chat webhook's URL is its credential, so
    only its host is shown."""
    if channel.kind in (ChannelKind.SLACK, ChannelKind.DISCORD):
        parts = urlsplit(channel.target)
        return f"{parts.scheme}://{parts.netloc}/…"
    return channel.target


def save_forge_status(
    repository: Repository,
    *,
    forge: str | None = None,
    api_url: str | None = None,
    project: str | None = None,
    token: str | None = None,
    enabled: bool = True,
) -> tuple[ForgeStatus, bool]:
    """Create or change the repository's commit status setting: what is not given is
    kept, or guessed from the repository's URL on creation; a token is needed then."""
    current = ForgeStatus.objects.filter(repository=repository).first()
    suggested = guess(repository) or {}
    base: dict[str, Any] = (
        {"forge": current.forge, "api_url": current.api_url, "project": current.project}
        if current
        else suggested
    )
    if forge and forge != base.get("forge"):
        # Another forge than before: the old URL and project belong to the old one.
        base = suggested if suggested.get("forge") == forge else {}
    forge = forge or base.get("forge") or ""
    api_url = (api_url or base.get("api_url") or "").strip()
    project = (project or base.get("project") or "").strip()
    if not forge:
        raise SettingInvalid(
            "forge", "the repository's URL names no known forge: say which (github, gitlab, gitea)"
        )
    try:
        check_setting(forge, api_url, project)
    except ForgeSettingInvalid as invalid:
        field, _, problem = str(invalid).partition(": ")
        raise SettingInvalid(field, problem) from None
    if current is None and not token:
        raise SettingInvalid("token", "a token is needed to post statuses")
    if token is not None and len(token) > SECRET_MAX:
        raise SettingInvalid("token", f"longer than {SECRET_MAX} characters")
    setting = current or ForgeStatus(repository=repository)
    setting.forge = forge
    setting.api_url = api_url
    setting.project = project
    setting.enabled = enabled
    if token:
        setting.set(token)
    setting.save()
    return setting, current is None
