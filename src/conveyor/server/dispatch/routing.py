"""Which workers may take a job: its ``runs-on`` labels against each worker's.

A worker's labels are those it was started with plus its system's (``linux``, ``x64``,
``self-hosted``); GitHub's image names (``ubuntu-latest``) are served by a worker of
that system, as ``conveyor run`` serves them on this machine (``HostLabels``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from conveyor.engine.runner_labels import HostLabels
from conveyor.server.dispatch import protocol
from conveyor.server.dispatch.models import DispatchStatus, JobDispatch, Worker


def lost_bound() -> timedelta:
    return timedelta(seconds=settings.CONVEYOR_WORKER_LOST_SECONDS)


def live_workers(now: datetime | None = None) -> list[Worker]:
    """Workers heard from within the lost bound that did not say they were stopping."""
    now = now or timezone.now()
    return list(
        Worker.objects.filter(last_seen_at__gte=now - lost_bound(), stopped_at__isnull=True)
    )


def serves(worker: Worker, labels: list[str]) -> bool:
    host = HostLabels(
        system=worker.system,
        machine=worker.machine,
        mapped=frozenset(str(label).lower() for label in worker.labels),
    )
    return host.not_served(labels) is None


def eligible(labels: list[str], workers: list[Worker]) -> list[Worker]:
    return [worker for worker in workers if serves(worker, labels)]


def unplaced_reason(labels: list[str], workers: list[Worker]) -> str:
    """Why no worker can take a job with ``labels`` now ("" when one can)."""
    if eligible(labels, workers):
        return ""
    if not workers:
        if not labels:
            return "no worker is running (start one with `conveyor worker`)"
        return f"no worker has labels {', '.join(labels)}; no worker is running"
    wanted = ", ".join(labels) if labels else "(none)"
    known = "; ".join(f"{worker.name} ({', '.join(worker.labels)})" for worker in workers)
    return f"no worker has labels {wanted}; workers: {known}"


def queues_for(worker: Worker) -> list[str]:
    """The queues ``worker`` should consume: the default one, and that of every label
    set of a job waiting or running that it serves."""
    queues = {protocol.DEFAULT_QUEUE}
    label_sets = JobDispatch.objects.filter(
        status__in=(DispatchStatus.QUEUED, DispatchStatus.RUNNING)
    ).values_list("labels", flat=True)
    seen: set[str] = set()
    for labels in label_sets:
        queue = protocol.queue_for(labels or [])
        if queue in seen:
            continue
        seen.add(queue)
        if serves(worker, labels or []):
            queues.add(queue)
    return sorted(queues)
