"""Finished runs and their durations, tallied once per run when it ends: the run counted
by status, its own duration, each job's, and how long it waited in the queue.
``/metrics`` reads the tallies (a few hundred rows) instead of every run and job, which
is what keeps a scrape fast (bench/metrics.py); the counts only grow, as Prometheus
counters and histograms should, even when retention deletes old runs.

A histogram's buckets here are not cumulative (one row per bucket); the collector adds
them up into Prometheus' cumulative ``le`` buckets.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F

from conveyor.server.insights.models import TalliedRun, Tally
from conveyor.server.runs.models import FINISHED_STATUSES, Run, Status

RUNS_FINISHED = "runs_finished"  # a plain count: bucket 0, by status
RUN_DURATION = "run_duration"  # by status
JOB_DURATION = "job_duration"
QUEUE_WAIT = "queue_wait"

# Upper bounds in seconds; an observation above the last falls in +Inf (index len(bounds)).
# Few buckets on purpose: each is a line per repository (and status) in every scrape.
DURATION_BOUNDS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
WAIT_BOUNDS = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
BOUNDS = {
    RUNS_FINISHED: (),
    RUN_DURATION: DURATION_BOUNDS,
    JOB_DURATION: DURATION_BOUNDS,
    QUEUE_WAIT: WAIT_BOUNDS,
}


def bucket_of(metric: str, seconds: float) -> int:
    """The index of the first bound ``seconds`` is at most (Prometheus' ``le``)."""
    return bisect.bisect_left(BOUNDS[metric], seconds)


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def observations(
    status: str,
    created_at: datetime,
    approved_at: datetime | None,
    started_at: datetime | None,
    finished_at: datetime | None,
    jobs: Iterable[tuple[str, datetime | None, datetime | None]],
) -> list[tuple[str, str, float]]:
    """``(metric, status, seconds)`` of a finished run: the run itself (counted even if it
    never started), its duration, its wait from queued (or approved) to started, and
    each job's duration (a skipped job ran nothing)."""
    found: list[tuple[str, str, float]] = [(RUNS_FINISHED, status, 0.0)]
    duration = seconds_between(started_at, finished_at)
    if duration is not None:
        found.append((RUN_DURATION, status, duration))
    wait = seconds_between(approved_at or created_at, started_at)
    if wait is not None:
        found.append((QUEUE_WAIT, "", wait))
    for job_status, job_started, job_finished in jobs:
        seconds = seconds_between(job_started, job_finished)
        if seconds is not None and job_status != Status.SKIPPED:
            found.append((JOB_DURATION, "", seconds))
    return found


def tally_run(run: Run) -> bool:
    """Add a finished run's observations to the tallies, once; True if it added them."""
    if run.status not in FINISHED_STATUSES:
        return False
    jobs = run.jobs.values_list("status", "started_at", "finished_at")
    found = observations(
        run.status, run.created_at, run.approved_at, run.started_at, run.finished_at, jobs
    )
    try:
        with transaction.atomic():
            TalliedRun.objects.create(run_id=run.pk)
            # Rows locked in one order by every run that ends: two runs tallied at once
            # on PostgreSQL wait for each other instead of deadlocking.
            for metric, status, seconds in sorted(
                found, key=lambda item: (item[0], item[1], bucket_of(item[0], item[2]))
            ):
                key = {
                    "metric": metric,
                    "repository_id": run.repository_id,
                    "status": status,
                    "bucket": bucket_of(metric, seconds),
                }
                Tally.objects.get_or_create(**key)
                Tally.objects.filter(**key).update(
                    count=F("count") + 1, seconds=F("seconds") + seconds
                )
    except IntegrityError:
        return False  # told twice: already tallied
    return True
