"""Where notifications go (``Channel``), where commit statuses go (``ForgeStatus``),
and what is queued to go there (``Outbound``: one row a message and destination)."""

from __future__ import annotations

from django.db import models

from conveyor.server.repos import crypto
from conveyor.server.repos.models import EncryptedValue, Environment, Repository


class Event(models.TextChoices):
    RUN_FAILED = "run.failed", "a run failed"
    RUN_FIXED = "run.fixed", "a run fixed (first success after a failure)"
    DEPLOY_STARTED = "deploy.started", "a deploy started"
    DEPLOY_SUCCEEDED = "deploy.succeeded", "a deploy succeeded"
    DEPLOY_ROLLED_BACK = "deploy.rolled-back", "a deploy rolled back or failed"
    INCIDENT_OPENED = "incident.opened", "an incident opened"
    INCIDENT_RESOLVED = "incident.resolved", "an incident resolved"


# Events that belong to an environment: a channel of an environment gets only these.
ENVIRONMENT_EVENTS = (
    Event.DEPLOY_STARTED,
    Event.DEPLOY_SUCCEEDED,
    Event.DEPLOY_ROLLED_BACK,
    Event.INCIDENT_OPENED,
    Event.INCIDENT_RESOLVED,
)


class ChannelKind(models.TextChoices):
    EMAIL = "email", "e-mail"
    WEBHOOK = "webhook", "JSON webhook (signed)"
    SLACK = "slack", "Slack-compatible webhook"
    DISCORD = "discord", "Discord-compatible webhook"


class Channel(models.Model):
    """A destination for a repository's notifications, or for one of its environments'.

    ``target`` is the comma-separated addresses of an e-mail channel, else the URL
    posted to. A webhook channel signs each body with its secret (stored encrypted).
    """

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="notification_channels"
    )
    # None: every event of the repository; else only that environment's deploys and incidents.
    environment = models.ForeignKey(
        Environment,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_channels",
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=ChannelKind.choices)
    target = models.CharField(max_length=2000)
    events = models.JSONField(default=list)  # Event values
    enabled = models.BooleanField(default=True)
    secret_encrypted = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["repository", "name"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="channel_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.repository.name}: {self.name} ({self.kind})"

    def __repr__(self) -> str:  # never the target: a chat webhook's URL is a credential
        return f"<Channel {self.name} of repository {self.repository_id}>"

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret) if secret else ""

    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    @property
    def addresses(self) -> list[str]:
        return [part.strip() for part in self.target.split(",") if part.strip()]


class Forge(models.TextChoices):
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    GITEA = "gitea", "Gitea / Forgejo"


class ForgeStatus(EncryptedValue):
    """Commit statuses of a repository's runs, posted to its forge with a token (the
    encrypted value). ``project`` is ``owner/repo`` (GitHub, Gitea) or the project's
    id or full path (GitLab)."""

    repository = models.OneToOneField(
        Repository, on_delete=models.CASCADE, related_name="forge_status"
    )
    forge = models.CharField(max_length=20, choices=Forge.choices)
    api_url = models.CharField(max_length=1000)
    project = models.CharField(max_length=500)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.repository.name}: statuses to {self.forge} {self.project}"

    def __repr__(self) -> str:
        return f"<ForgeStatus of repository {self.repository_id}>"


class OutboundKind(models.TextChoices):
    NOTIFICATION = "notification"
    COMMIT_STATUS = "commit-status"


class OutboundStatus(models.TextChoices):
    PENDING = "pending"  # waits for its next attempt (the first, or a retry)
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt
    SUPERSEDED = "superseded"  # a commit status a newer one of the same run replaced


class Outbound(models.Model):
    """One message to one destination, sent by the delivery thread, retried with
    exponential backoff. ``key`` makes it once: the same event for the same channel
    is queued once however often it is heard."""

    key = models.CharField(max_length=300, unique=True)
    kind = models.CharField(max_length=20, choices=OutboundKind.choices)
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="outbound")
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="outbound"
    )
    event = models.CharField(max_length=40)  # an Event, or the commit state sent
    # What to say, without secrets: the message's fields (notifications) or the
    # status's (commit statuses); the body is made from it at each attempt.
    message = models.JSONField(default=dict)
    status = models.CharField(
        max_length=20, choices=OutboundStatus.choices, default=OutboundStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbound_due")]

    def __str__(self) -> str:
        return f"{self.kind} {self.event} ({self.status})"
