"""Tally the runs that finished before insights was installed, so ``/metrics`` counts
them too (a one-time pass over the run and job rows)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import migrations

FINISHED = ("success", "failure", "cancelled", "skipped")
BATCH = 2000


def tally_earlier_runs(apps: Any, schema_editor: Any) -> None:
    from conveyor.server.insights.histograms import bucket_of, observations

    Run = apps.get_model("runs", "Run")
    Job = apps.get_model("runs", "Job")
    Tally = apps.get_model("insights", "Tally")
    TalliedRun = apps.get_model("insights", "TalliedRun")
    totals: dict[tuple[str, int, str, int], list[float]] = defaultdict(lambda: [0, 0.0])
    runs = Run.objects.filter(status__in=FINISHED).order_by("pk")
    fields = ("pk", "repository_id", "status", "created_at", "approved_at", "started_at")
    last = 0
    while True:
        batch = list(runs.filter(pk__gt=last).values_list(*fields, "finished_at")[:BATCH])
        if not batch:
            break
        last = batch[-1][0]
        jobs: dict[int, list[tuple[Any, Any, Any]]] = defaultdict(list)
        for run_id, *job in Job.objects.filter(run_id__in=[row[0] for row in batch]).values_list(
            "run_id", "status", "started_at", "finished_at"
        ):
            jobs[run_id].append(tuple(job))
        for pk, repository_id, status, created, approved, started, finished in batch:
            for metric, of, seconds in observations(
                status, created, approved, started, finished, jobs[pk]
            ):
                entry = totals[(metric, repository_id, of, bucket_of(metric, seconds))]
                entry[0] += 1
                entry[1] += seconds
        TalliedRun.objects.bulk_create([TalliedRun(run_id=row[0]) for row in batch])
    Tally.objects.bulk_create(
        Tally(
            metric=metric,
            repository_id=repository_id,
            status=status,
            bucket=bucket,
            count=count,
            seconds=seconds,
        )
        for (metric, repository_id, status, bucket), (count, seconds) in totals.items()
    )


class Migration(migrations.Migration):
    dependencies = [("insights", "0001_initial"), ("runs", "0006_deployments")]

    operations = [migrations.RunPython(tally_earlier_runs, migrations.RunPython.noop)]
