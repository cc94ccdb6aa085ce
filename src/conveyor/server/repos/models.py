"""Repositories the server builds, their secrets (encrypted at rest), variables, service
mappings and webhook deliveries."""

from __future__ import annotations

import secrets as token_source

from django.db import models

from conveyor.server.repos import crypto


def new_webhook_secret() -> str:
    return token_source.token_urlsafe(32)


class Repository(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    # A local bare repository's path, or a remote URL git can fetch.
    url = models.CharField(max_length=1000)
    default_branch = models.CharField(max_length=255, default="main")
    webhook_secret = models.CharField(max_length=200, default=new_webhook_secret)
    # Seconds between polls for remotes that cannot send webhooks; null: not polled.
    poll_interval = models.PositiveIntegerField(null=True, blank=True)
    # A pull request from a fork waits for a member to approve its run (which then
    # runs without secrets, as every run of a fork's code does).
    require_fork_approval = models.BooleanField(
        default=True, verbose_name="require approval for pull requests from forks"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        return "://" not in self.url and not _looks_like_scp(self.url)


def _looks_like_scp(url: str) -> bool:
    # user@host:path, the form ssh remotes take without a scheme
    head = url.split("/", 1)[0]
    return ":" in head and not head.startswith(".")


class EncryptedValue(models.Model):
    """A secret's value: only its Fernet token is stored, and it is never shown."""

    value_encrypted = models.TextField(editable=False)

    class Meta:
        abstract = True

    def set(self, value: str) -> None:
        """Encrypt ``value`` into ``value_encrypted`` (call ``save()`` afterwards)."""
        self.value_encrypted = crypto.encrypt(value)

    def reveal(self) -> str:
        return crypto.decrypt(self.value_encrypted)


class Secret(EncryptedValue):
    """A repository secret."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=200)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="secret_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.repository.name}: {self.name}"

    def __repr__(self) -> str:
        return f"<Secret {self.name} of repository {self.repository_id}>"


class Variable(models.Model):
    """A repository variable (the ``vars`` context): configuration, not a secret, so it
    is stored and shown as it is, and reaches every run, a fork's too."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=200)
    value = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="variable_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.repository.name}: {self.name}"


class ServiceMapping(models.Model):
    """Where a workflow's ``services.<name>`` already runs for this repository's jobs
    (``HOST:PORT[,PORT...]``): the server starts no service containers."""

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="service_mappings"
    )
    name = models.CharField(max_length=100, verbose_name="service id")
    address = models.CharField(
        max_length=300, help_text="HOST:PORT, or HOST:PORT,PORT for the service's ports in order"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="service_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.repository.name}: {self.name} = {self.address}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from conveyor.engine.services import SERVICE_NAME, parse_service_address

        if not SERVICE_NAME.fullmatch(self.name):
            raise ValidationError({"name": service_name_problem(self.name)})
        try:
            parse_service_address(self.address)
        except ValueError as error:
            raise ValidationError({"address": str(error)}) from None


def service_name_problem(name: str) -> str:
    return f"{name!r} is not a service id: a letter or '_' first, then letters, digits, '-' and '_'"


class Environment(models.Model):
    """A deployment target a job names with ``environment:`` (GitHub's environments):
    its protection rules and its own secrets and variables, which win over the
    repository's for the jobs that deploy to it."""

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="environments"
    )
    name = models.CharField(max_length=255)
    # A job deploying here waits until a member approves it.
    required_approval = models.BooleanField(default=False)
    # Branch patterns (the workflow's branch filter syntax), one per line; empty: any ref.
    allowed_branches = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["repository", "name"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="environment_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.repository.name}: {self.name}"

    @property
    def branch_patterns(self) -> list[str]:
        return [line.strip() for line in self.allowed_branches.splitlines() if line.strip()]


class EnvironmentSecret(EncryptedValue):
    """An environment's secret, encrypted as a repository's is."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=200)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "name"], name="environment_secret_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.environment}: {self.name}"


class EnvironmentVariable(models.Model):
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=200)
    value = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "name"], name="environment_variable_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.environment}: {self.name}"


class Delivery(models.Model):
    """A webhook delivery that was accepted; a delivery seen twice is run once."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="deliveries")
    provider = models.CharField(max_length=20)  # github, gitlab, gitea, generic, local, poll
    delivery_id = models.CharField(max_length=200)
    event = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "provider", "delivery_id"], name="delivery_seen_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event} {self.delivery_id}"


# Defined in its own module (the triggers' bookkeeping); imported here so Django finds it.
from conveyor.server.repos.ref_state import KnownRef  # noqa: E402, F401
