"""Duration histograms, tallied once per finished run: its own duration, each job's,
and how long it waited in the queue. ``/metrics`` reads the tallies (a few rows per
repository) instead of every run, which is what keeps a scrape fast (bench/metrics.py).

A histogram's buckets here are not cumulative (one row per bucket); the collector adds
them up into Prometheus' cumulative ``le`` buckets.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F

from conveyor.server.insights.models import HistogramBucket, TalliedRun
from conveyor.server.runs.models import FINISHED_STATUSES, Run, Status

RUN_DURATION = "run_duration"
JOB_DURATION = "job_duration"
QUEUE_WAIT = "queue_wait"

# Upper bounds in seconds; an observation above the last falls in +Inf (index len(bounds)).
DURATION_BOUNDS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
WAIT_BOUNDS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0)
BOUNDS = {RUN_DURATION: DURATION_BOUNDS, JOB_DURATION: DURATION_BOUNDS, QUEUE_WAIT: WAIT_BOUNDS}


def bucket_of(metric: str, seconds: float) -> int:
    """The index of the first bound ``seconds`` is at most (Prometheus' ``le``)."""
    return bisect.bisect_left(BOUNDS[metric], seconds)


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def observations(run: Run) -> list[tuple[str, str, float]]:
    """``(metric, status, seconds)`` of a finished run: its duration, each job's that ran
    (a skipped job ran nothing), and its wait from queued (or approved) to started."""
    found: list[tuple[str, str, float]] = []
    duration = seconds_between(run.started_at, run.finished_at)
    if duration is not None:
        found.append((RUN_DURATION, run.status, duration))
    wait = seconds_between(run.approved_at or run.created_at, run.started_at)
    if wait is not None:
        found.append((QUEUE_WAIT, "", wait))
    jobs = run.jobs.exclude(status=Status.SKIPPED)
    for status, started, finished in jobs.values_list("status", "started_at", "finished_at"):
        seconds = seconds_between(started, finished)
        if seconds is not None:
            found.append((JOB_DURATION, status, seconds))
    return found


def tally_run(run: Run) -> bool:
    """Add a finished run's observations to the histograms, once; True if it added them."""
    if run.status not in FINISHED_STATUSES:
        return False
    try:
        with transaction.atomic():
            TalliedRun.objects.create(run_id=run.pk)
            _add(run.repository_id, observations(run))
    except IntegrityError:
        return False  # told twice: already tallied
    return True


def _add(repository_id: int, found: Iterable[tuple[str, str, float]]) -> None:
    for metric, status, seconds in found:
        key = {
            "metric": metric,
            "repository_id": repository_id,
            "status": status,
            "bucket": bucket_of(metric, seconds),
        }
        HistogramBucket.objects.get_or_create(**key)
        HistogramBucket.objects.filter(**key).update(
            count=F("count") + 1, seconds=F("seconds") + seconds
        )
