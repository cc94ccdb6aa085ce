"""Sending one message: an e-mail through Django's mail backend, or one HTTP POST (our
signed JSON webhook, a chat webhook, a forge's commit status API).

A failure is a ``DeliveryFailed`` whose text is shown in the UI: it names the host and
what went wrong, never the URL's path or query (a chat webhook's URL is its token) nor
a token.
"""

from __future__ import annotations

import smtplib
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from conveyor.server.notifications import bodies
from conveyor.server.notifications.forge_statuses import ForgeSettingInvalid, status_request
from conveyor.server.notifications.models import Channel, ChannelKind, ForgeStatus
from conveyor.server.repos.crypto import SecretUnreadable
from conveyor.server.repos.forges.generic.webhook import SIGNATURE_HEADER, sign

TIMEOUT_SECONDS = 10
EVENT_HEADER = "X-Conveyor-Event"
DELIVERY_HEADER = "X-Conveyor-Delivery"
ERROR_BODY_LIMIT = 300


class DeliveryFailed(Exception):
    """An attempt that did not deliver: says why, in words safe to show."""


def send_notification(channel: Channel, message: dict[str, Any], key: str) -> None:
    if channel.kind == ChannelKind.EMAIL:
        send_email(channel.addresses, message)
        return
    if channel.kind == ChannelKind.WEBHOOK:
        body = bodies.webhook_body(message)
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: message["event"],
            DELIVERY_HEADER: key,
        }
        try:
            secret = channel.secret()
        except SecretUnreadable as error:
            raise DeliveryFailed(str(error)) from None
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        post(channel.target, headers, body)
        return
    body = bodies.slack_body(message) if channel.kind == ChannelKind.SLACK else None
    if channel.kind == ChannelKind.DISCORD:
        body = bodies.discord_body(message)
    if body is None:
        raise DeliveryFailed(f"unknown channel kind {channel.kind!r}")
    post(channel.target, {"Content-Type": "application/json"}, body)


def send_email(addresses: list[str], message: dict[str, Any]) -> None:
    if not addresses:
        raise DeliveryFailed("the channel has no e-mail address")
    email = EmailMessage(
        subject=bodies.email_subject(message),
        body=bodies.email_text(message),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=addresses,
        headers={EVENT_HEADER: message["event"]},
    )
    try:
        sent = _send_with(email)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"e-mail to {settings.EMAIL_HOST}: {error}") from None
    if not sent:
        raise DeliveryFailed("the mail backend sent nothing")


def _send_with(email: EmailMessage) -> int:
    connection = get_connection(fail_silently=False, timeout=TIMEOUT_SECONDS)
    email.connection = connection
    return email.send(fail_silently=False)


def send_commit_status(setting: ForgeStatus, status: dict[str, Any]) -> None:
    try:
        token = setting.reveal()
        url, headers, body = status_request(
            setting.forge, setting.api_url, setting.project, token, status
        )
    except (SecretUnreadable, ForgeSettingInvalid) as error:
        raise DeliveryFailed(str(error)) from None
    post(url, headers, body)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure: it would turn the POST into a GET somewhere else."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, headers: dict[str, str], body: bytes) -> None:
    """POST ``body``; a 2xx answer is delivered, anything else raises ``DeliveryFailed``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryFailed("the target is not an http(s) URL")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(64 * 1024)
    except urllib.error.HTTPError as error:
        said = error.read(ERROR_BODY_LIMIT).decode("utf-8", "replace").strip()
        raise DeliveryFailed(
            f"{host} answered HTTP {error.code}" + (f": {said}" if said else "")
        ) from None
    except urllib.error.URLError as error:
        raise DeliveryFailed(f"cannot reach {host}: {error.reason}") from None
    except (TimeoutError, OSError) as error:
        raise DeliveryFailed(f"cannot reach {host}: {error}") from None
