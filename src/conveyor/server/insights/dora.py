"""The DORA four keys of one environment over a window, from its deployments and its
incidents (definitions and edge cases: docs/dora.md).

A *deployment* here is a finished one that tried: status ``success`` or ``failure``
(cancelled and rejected ones changed nothing). It *failed* when its status is failure or
its deploy step ended ``failed`` or ``rolled-back``, or the server rolled it back (a
rollback from the server is not a deployment of its own); it is a *failed change* when it
failed or an incident opened between its start and the next deployment's start.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from conveyor.server.insights.models import DeploymentLive
from conveyor.server.insights.recording import record_commit_times
from conveyor.server.monitoring.models import Incident
from conveyor.server.repos.models import Environment
from conveyor.server.runs.models import (
    SERVER_ROLLBACK_JOB_PREFIX,
    Deployment,
    DeploymentStatus,
)

WINDOWS = (7, 30, 90)
PREFERRED_ENVIRONMENT = "production"
FAILED_STATES = ("failed", "rolled-back")
TRIED = (DeploymentStatus.SUCCESS, DeploymentStatus.FAILURE)


@dataclass(frozen=True)
class DeploymentFact:
    id: int
    status: str
    state: str
    started_at: datetime
    finished_at: datetime
    live_at: datetime  # its first ``live`` state, else when it finished
    committed_at: datetime | None  # its commit's time, if known

    @property
    def failed(self) -> bool:
        return self.status == DeploymentStatus.FAILURE or self.state in FAILED_STATES


@dataclass(frozen=True)
class IncidentFact:
    opened_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class History:
    deployments: list[DeploymentFact]  # by start
    incidents: list[IncidentFact]  # by opening


@dataclass(frozen=True)
class FourKeys:
    deployment_frequency: float | None  # successful deployments per day
    lead_time_seconds: float | None  # median, commit -> live
    change_failure_rate: float | None  # failed changes / deployments
    time_to_restore_seconds: float | None  # median, failure -> restored
    deployments: int
    successful_deployments: int
    failed_changes: int
    lead_time_samples: int
    incidents: int
    restore_samples: int
    unrestored: int  # failures not restored yet: left out of the median


def preferred_environment(environments: list[Environment]) -> Environment | None:
    """The environment meant when none is named: ``production``, else the only one."""
    for environment in environments:
        if environment.name == PREFERRED_ENVIRONMENT:
            return environment
    return environments[0] if len(environments) == 1 else None


def load_history(environment: Environment, since: datetime) -> History:
    """The environment's deployments that finished since ``since`` (and all later ones,
    which the keys need as "the next deployment"), and the incidents from the first of
    their starts."""
    rows = list(
        Deployment.objects.filter(environment=environment, status__in=TRIED, finished_at__gte=since)
        .exclude(job_key__startswith=SERVER_ROLLBACK_JOB_PREFIX)
        .values("id", "run_id", "sha", "status", "state", "created_at", "started_at", "finished_at")
    )
    # A rollback from the server (its row belongs to the run whose release it undid) is
    # no change of its own: it makes the deployment it undid a failed one.
    undone = set(
        Deployment.objects.filter(
            environment=environment,
            job_key__startswith=SERVER_ROLLBACK_JOB_PREFIX,
            status=DeploymentStatus.SUCCESS,
        ).values_list("run_id", flat=True)
    )
    live = dict(
        DeploymentLive.objects.filter(deployment_id__in=[row["id"] for row in rows]).values_list(
            "deployment_id", "live_at"
        )
    )
    commits = record_commit_times(environment.repository, [row["sha"] for row in rows])
    deployments = sorted(
        (
            DeploymentFact(
                id=row["id"],
                status=row["status"],
                state="rolled-back" if row["run_id"] in undone else row["state"],
                started_at=row["started_at"] or row["created_at"],
                finished_at=row["finished_at"],
                live_at=live.get(row["id"], row["finished_at"]),
                committed_at=commits.get(row["sha"]),
            )
            for row in rows
        ),
        key=lambda fact: (fact.started_at, fact.id),
    )
    first = min([since, *(fact.started_at for fact in deployments)])
    incidents = [
        IncidentFact(opened, resolved)
        for opened, resolved in Incident.objects.filter(
            environment=environment, opened_at__gte=first
        )
        .order_by("opened_at", "id")
        .values_list("opened_at", "resolved_at")
    ]
    return History(deployments, incidents)


def four_keys(history: History, start: datetime, end: datetime) -> FourKeys:
    """The keys of the deployments that finished and the incidents that opened in
    ``[start, end)``."""
    days = (end - start).total_seconds() / 86400
    ordered = history.deployments
    in_window = [
        (index, fact) for index, fact in enumerate(ordered) if start <= fact.finished_at < end
    ]
    successful = [fact for _, fact in in_window if not fact.failed]
    failed_changes = sum(1 for index, fact in in_window if _failed_change(history, index, fact))
    lead_times = [
        max((fact.live_at - fact.committed_at).total_seconds(), 0.0)
        for fact in successful
        if fact.committed_at is not None
    ]
    restores: list[float] = []
    unrestored = 0
    incidents = [item for item in history.incidents if start <= item.opened_at < end]
    for incident in incidents:
        if incident.resolved_at is None:
            unrestored += 1
        else:
            restores.append((incident.resolved_at - incident.opened_at).total_seconds())
    for index, fact in in_window:
        if not fact.failed:
            continue
        restored = next((later for later in ordered[index + 1 :] if not later.failed), None)
        if restored is None:
            unrestored += 1
        else:
            restores.append(max((restored.live_at - fact.finished_at).total_seconds(), 0.0))
    tried = len(in_window)
    return FourKeys(
        deployment_frequency=len(successful) / days if tried and days > 0 else None,
        lead_time_seconds=statistics.median(lead_times) if lead_times else None,
        change_failure_rate=failed_changes / tried if tried else None,
        time_to_restore_seconds=statistics.median(restores) if restores else None,
        deployments=tried,
        successful_deployments=len(successful),
        failed_changes=failed_changes,
        lead_time_samples=len(lead_times),
        incidents=len(incidents),
        restore_samples=len(restores),
        unrestored=unrestored,
    )


def _failed_change(history: History, index: int, fact: DeploymentFact) -> bool:
    if fact.failed:
        return True
    following = history.deployments[index + 1 : index + 2]
    until = following[0].started_at if following else None
    return any(
        fact.started_at <= incident.opened_at and (until is None or incident.opened_at < until)
        for incident in history.incidents
    )


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    keys: FourKeys


def bucket_length(days: int) -> timedelta:
    """Per day over 7 and 30 days, per week over 90."""
    return timedelta(days=7 if days > 30 else 1)


def window(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    end = now or timezone.now()
    return end - timedelta(days=days), end


def trend(history: History, start: datetime, end: datetime, step: timedelta) -> list[Bucket]:
    """The keys per bucket of ``step``, the last bucket ending at ``end``."""
    buckets: list[Bucket] = []
    bucket_end = end
    while bucket_end > start:
        bucket_start = max(bucket_end - step, start)
        buckets.append(
            Bucket(bucket_start, bucket_end, four_keys(history, bucket_start, bucket_end))
        )
        bucket_end = bucket_start
    return buckets[::-1]


def report(environment: Environment, days: int, now: datetime | None = None) -> dict[str, Any]:
    """What the API answers: the four keys over the window, the counts, the window."""
    start, end = window(days, now)
    keys = four_keys(load_history(environment, start), start, end)
    return {
        "repository": environment.repository.name,
        "environment": environment.name,
        "days": days,
        "start": start,
        "end": end,
        **keys.__dict__,
    }
