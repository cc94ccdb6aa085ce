"""The notification settings of a repository: its channels (and its environments'), its
commit status setting and the latest deliveries with their attempts, last error and
next try. Members see the page; admins change what is on it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from conveyor.server.accounts.permissions import can_admin, role_required
from conveyor.server.notifications import config
from conveyor.server.notifications.forge_statuses import guess
from conveyor.server.notifications.models import (
    ENVIRONMENT_EVENTS,
    ChannelKind,
    Event,
    Forge,
    ForgeStatus,
    Outbound,
)
from conveyor.server.ui.views.lookup import repository_named

DELIVERIES_ON_PAGE = 50


@role_required("member")
def settings_page(request: HttpRequest, name: str) -> HttpResponse:
    repository = repository_named(name)
    channels = [
        {"channel": channel, "target": config.shown_target(channel)}
        for channel in repository.notification_channels.select_related("environment")
    ]
    rows = (
        Outbound.objects.filter(repository=repository)
        .select_related("channel")
        .order_by("-pk")[:DELIVERIES_ON_PAGE]
    )
    context: dict[str, Any] = {
        "repository": repository,
        "channels": channels,
        "deliveries": list(rows),
        "events": Event.choices,
        "environment_events": [event.value for event in ENVIRONMENT_EVENTS],
        "kinds": ChannelKind.choices,
        "forges": Forge.choices,
        "environments": list(repository.environments.values_list("name", flat=True)),
        "forge_status": ForgeStatus.objects.filter(repository=repository).first(),
        "suggested": guess(repository),
        "can_admin": can_admin(request.user),
    }
    return render(request, "notifications/settings.html", context)


def _back(name: str) -> HttpResponse:
    return redirect("notifications:settings", name=name)


@require_POST
@role_required("admin")
def save_channel(request: HttpRequest, name: str) -> HttpResponse:
    repository = repository_named(name)
    form = request.POST
    secret = form.get("secret", "")
    try:
        channel, created = config.save_channel(
            repository,
            form.get("name", "").strip(),
            kind=form.get("kind", ""),
            target=form.get("target", ""),
            events=form.getlist("events"),
            environment=form.get("environment") or None,
            # An empty field keeps the secret; "remove secret" drops it.
            secret="" if form.get("remove_secret") else (secret or None),
            enabled=form.get("enabled") == "on",
        )
    except config.SettingInvalid as invalid:
        messages.error(request, f"Channel not saved: {invalid}")
        return _back(name)
    messages.success(request, f"Channel {channel.name} {'added' if created else 'saved'}.")
    return _back(name)


@require_POST
@role_required("admin")
def delete_channel(request: HttpRequest, name: str, channel: str) -> HttpResponse:
    repository = repository_named(name)
    deleted, _ = repository.notification_channels.filter(name=channel).delete()
    if deleted:
        messages.success(request, f"Channel {channel} deleted.")
    else:
        messages.info(request, f"There is no channel {channel}.")
    return _back(name)


@require_POST
@role_required("admin")
def save_commit_status(request: HttpRequest, name: str) -> HttpResponse:
    repository = repository_named(name)
    form = request.POST
    try:
        config.save_forge_status(
            repository,
            forge=form.get("forge") or None,
            api_url=form.get("api_url") or None,
            project=form.get("project") or None,
            token=form.get("token") or None,
            enabled=form.get("enabled") == "on",
        )
    except config.SettingInvalid as invalid:
        messages.error(request, f"Commit statuses not saved: {invalid}")
        return _back(name)
    messages.success(request, "Commit status setting saved.")
    return _back(name)


@require_POST
@role_required("admin")
def delete_commit_status(request: HttpRequest, name: str) -> HttpResponse:
    ForgeStatus.objects.filter(repository=repository_named(name)).delete()
    messages.success(request, "Commit statuses are no longer sent; the token is forgotten.")
    return _back(name)
