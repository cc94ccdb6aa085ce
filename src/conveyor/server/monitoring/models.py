"""What the server learns by watching production: incidents, each a span of time an
environment's health URL answered wrong."""

from __future__ import annotations

from datetime import timedelta

from django.db import models

from conveyor.server.repos.models import Environment
from conveyor.server.runs.models import Deployment


class Incident(models.Model):
    """An environment down: opened at the first failing probe after it was up, resolved
    at the first healthy one. ``reason`` is the failing response (status and the start
    of its body) or why there was none (refused, timed out)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="incidents")
    # The deployment that served when it opened (None: nothing deployed through Conveyor).
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    url = models.CharField(max_length=1000)
    reason = models.TextField()
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment"],
                condition=models.Q(resolved_at__isnull=True),
                name="incident_one_open_per_environment",
            )
        ]
        indexes = [models.Index(fields=["environment", "opened_at"], name="incident_env_opened")]

    def __str__(self) -> str:
        return f"{self.environment} down since {self.opened_at:%Y-%m-%d %H:%M:%S}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def duration(self) -> timedelta | None:
        if self.resolved_at is None:
            return None
        return self.resolved_at - self.opened_at


class Health(models.TextChoices):
    UNKNOWN = "unknown"  # never checked (or no health URL)
    UP = "up"
    DOWN = "down"


class HealthCheck(models.Model):
    """How the server watches one environment, and what it saw last.

    What it checks: ``health_url`` when a member set one, else the URL of the
    environment's last deployment that went live (``deployed_url``: its bind address and
    health path, with ``deployed_host`` as the Host header the release answers to).
    ``watched_from`` is when that deployment went live: for
    ``CONVEYOR_HEALTH_CLOSE_MINUTES`` after, it is checked more often and, with
    ``auto_rollback`` on, a failing check rolls it back (once: ``auto_rolled_back``)."""

    environment = models.OneToOneField(Environment, on_delete=models.CASCADE, related_name="health")
    # Set by a member (the UI, the API); "" uses the deployments' own URL.
    health_url = models.CharField(max_length=1000, blank=True)
    auto_rollback = models.BooleanField(default=False)
    # From the last deployment that went live (its DeploymentChanged): where it serves
    # (http://<bind>), the path of its health check, the Host header it answers to.
    deployed_url = models.CharField(max_length=1000, blank=True)
    deployed_health_path = models.CharField(max_length=1000, blank=True)
    deployed_host = models.CharField(max_length=300, blank=True)
    live_deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    watched_from = models.DateTimeField(null=True, blank=True)
    auto_rolled_back = models.BooleanField(default=False)
    # What the watch saw.
    state = models.CharField(max_length=10, choices=Health.choices, default=Health.UNKNOWN)
    state_since = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_result = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.environment}: {self.state}"

    @property
    def url(self) -> str:
        """What the watch checks ("" for nothing)."""
        if self.health_url:
            return self.health_url
        if not self.deployed_url:
            return ""
        return self.deployed_url.rstrip("/") + (self.deployed_health_path or "/")

    @property
    def host(self) -> str:
        """The Host header it sends ("" for the URL's own)."""
        return "" if self.health_url else self.deployed_host
