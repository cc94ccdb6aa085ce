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
