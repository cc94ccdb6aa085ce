"""What insights records beside the runs: the facts the runs' own rows do not keep.

- ``CommitTime``: when a commit was made (the start of its lead time).
- ``DeploymentLive``: when a deployment's deploy step first reported ``live``.
- ``Tally`` and ``TalliedRun``: finished runs and their run, job and queue-wait
  durations, counted once per run when it finishes, so ``/metrics`` reads a few hundred
  rows instead of every run and job at each scrape (see docs/metrics.md).
"""

from __future__ import annotations

from django.db import models

from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Deployment, Run


class CommitTime(models.Model):
    """The committer date of a commit a run built (``git show -s --format=%ct``)."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    sha = models.CharField(max_length=64)
    committed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "sha"], name="commit_time_unique")
        ]

    def __str__(self) -> str:
        return f"{self.sha[:7]} at {self.committed_at:%Y-%m-%d %H:%M:%S}"


class DeploymentLive(models.Model):
    """The moment a deployment went live (its first ``live`` state): its lead time ends here."""

    deployment = models.OneToOneField(
        Deployment, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    live_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"deployment {self.deployment_id} live at {self.live_at:%Y-%m-%d %H:%M:%S}"


class Tally(models.Model):
    """How many observations of ``metric`` fell in one bucket (not cumulative), and the
    seconds they add up to. ``bucket`` indexes the metric's bounds in ``histograms.py``
    (always 0 for a plain count such as finished runs)."""

    metric = models.CharField(max_length=40)
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, blank=True)
    bucket = models.PositiveSmallIntegerField()
    count = models.PositiveBigIntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "repository", "status", "bucket"], name="tally_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.repository_id} {self.status} #{self.bucket}: {self.count}"


class TalliedRun(models.Model):
    """A run whose durations are in the histograms: a run is tallied once, however often
    its end is told."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, primary_key=True, related_name="+")

    def __str__(self) -> str:
        return f"run {self.run_id} tallied"
