"""Retention: finished runs older than CONVEYOR_RETENTION_DAYS go with their logs, in
batches; queued, waiting and running runs stay however old; 0 keeps everything."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from conveyor.server.runs.models import Annotation, Job, LogChunk, Run, Step
from conveyor.server.runs.retention import Retention, purge_expired, start_retention
from tests.server.conftest import wait_for

# Also run on PostgreSQL by scripts/test (why: see there).
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def make_run(repository: Any, number: int, status: str, finished_days_ago: float | None) -> Run:
    """A run as the workers leave it: a job, a step, a log of a few chunks, an annotation."""
    now = timezone.now()
    finished = None if finished_days_ago is None else now - timedelta(days=finished_days_ago)
    run = Run.objects.create(
        repository=repository,
        number=number,
        workflow_path=".conveyor.yml",
        event="push",
        ref="refs/heads/main",
        sha=f"{number:040x}",
        status=status,
        created_at=now,
        started_at=finished,
        finished_at=finished,
    )
    job = Job.objects.create(run=run, job_key="build", job_id="build")
    step = Step.objects.create(job=job, index=0, name="Build")
    for seq in range(3):
        LogChunk.objects.create(step=step, seq=seq, first_line=seq + 1, line_count=1, text="x")
    Annotation.objects.create(step=step, level="error", message="broken")
    return run


def numbers() -> list[int]:
    return sorted(Run.objects.values_list("number", flat=True))


def test_old_finished_runs_go_with_their_logs_in_batches(repository):
    for number in range(1, 8):
        make_run(repository, number, "success" if number % 2 else "failure", 100 + number)
    make_run(repository, 8, "cancelled", 89)  # younger than the limit
    make_run(repository, 9, "queued", None)  # waiting (concurrency) or not started
    make_run(repository, 10, "running", None)
    Run.objects.filter(number__in=[9, 10]).update(created_at=timezone.now() - timedelta(days=400))
    # A run that says running keeps its rows even with an old finished_at left on it.
    make_run(repository, 11, "running", 400)

    assert purge_expired(90, run_batch=2, chunk_batch=2) == 7
    assert numbers() == [8, 9, 10, 11]
    kept = set(Run.objects.values_list("pk", flat=True))
    assert set(Job.objects.values_list("run_id", flat=True)) == kept
    assert LogChunk.objects.count() == 4 * 3
    assert Annotation.objects.count() == 4
    assert purge_expired(90) == 0


def test_a_run_expires_once_its_time_has_come(repository):
    make_run(repository, 1, "success", 0)
    assert purge_expired(90) == 0
    with time_machine.travel(timezone.now() + timedelta(days=89, hours=23)):
        assert purge_expired(90) == 0
    with time_machine.travel(timezone.now() + timedelta(days=90, minutes=1)):
        assert purge_expired(90) == 1
    assert numbers() == []


def test_a_re_run_outlives_the_run_it_repeats(repository):
    old = make_run(repository, 1, "failure", 120)
    again = make_run(repository, 2, "success", 10)
    Run.objects.filter(pk=again.pk).update(rerun_of=old)
    assert purge_expired(90) == 1
    again.refresh_from_db()
    assert again.rerun_of is None


def test_zero_days_keeps_runs_forever(repository, settings):
    make_run(repository, 1, "success", 10_000)
    assert purge_expired(0) == 0
    settings.CONVEYOR_RETENTION_DAYS = 0
    assert start_retention() is None
    assert numbers() == [1]


@pytest.mark.django_db(transaction=True)
def test_the_server_thread_deletes_old_runs_at_start(repository, settings):
    make_run(repository, 1, "success", 31)
    make_run(repository, 2, "success", 29)
    settings.CONVEYOR_RETENTION_DAYS = 30
    retention = start_retention()
    assert isinstance(retention, Retention)
    try:
        wait_for(lambda: numbers() == [2], what="the retention pass")
    finally:
        retention.stop()
    assert not retention.thread.is_alive()
