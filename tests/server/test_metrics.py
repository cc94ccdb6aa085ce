"""``/metrics``: Prometheus' text format, read back with prometheus-client's own parser,
whose figures equal what the database holds after real runs (the embedded workers
running real workflows) and rows made here; and the token that guards it."""

from __future__ import annotations

import importlib
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from conveyor.server.insights import histograms
from conveyor.server.insights.models import TalliedRun
from conveyor.server.monitoring.models import Incident
from conveyor.server.repos.models import Environment
from conveyor.server.runs import services, signals
from conveyor.server.runs.models import FINISHED_STATUSES, Deployment, Job, Run, Status
from tests.server.conftest import GitProject, wait_for, wait_for_run_end

TOKEN = "scrape-me-0123456789"

WORKFLOW = """\
on: push
jobs:
  build:
    runs-on: local
    steps:
      - run: echo build; BUILD
  deploy:
    runs-on: local
    needs: build
    environment: production
    steps:
      - run: echo deploying
"""

# Also run on PostgreSQL by scripts/test (why: see there).
pytestmark = pytest.mark.postgres


def push(repository: Any, git_project: GitProject, build: str) -> Run:
    git_project.commit(
        {".github/workflows/ci.yml": WORKFLOW.replace("BUILD", build), "stamp": f"{time.time()}"}
    )
    _, sha = git_project.push()
    [run] = services.create_runs_for_event(repository, event="push", ref="refs/heads/main", sha=sha)
    return run


def scrape(token: str | None = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().get("/metrics", headers=headers)


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{sample name: {sorted labels: value}}`` as prometheus-client parses the text."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


@pytest.mark.django_db(transaction=True)
def test_the_figures_equal_the_database_after_real_runs(repository, git_project, workers, settings):
    settings.CONVEYOR_METRICS_TOKEN = TOKEN
    production = Environment.objects.create(repository=repository, name="production")
    staging = Environment.objects.create(repository=repository, name="staging")
    good = wait_for_run_end(push(repository, git_project, "true"))
    bad = wait_for_run_end(push(repository, git_project, "exit 3"))
    assert (good.status, bad.status) == ("success", "failure")
    # A run's status is written before its end is told (and tallied): wait for the tally.
    wait_for(
        lambda: TalliedRun.objects.filter(run_id__in=(good.pk, bad.pk)).count() == 2,
        what="both runs to be tallied",
    )
    # Rows made here, no worker involved: one run queued, one running, incidents.
    now = timezone.now()
    for number, status in ((90, Status.QUEUED), (91, Status.RUNNING)):
        Run.objects.create(
            repository=repository, number=number, workflow_path="x.yml", event="push", status=status
        )
    Run.objects.filter(number=90).update(created_at=now - timedelta(seconds=600))
    Incident.objects.create(
        environment=production,
        url="u",
        reason="500",
        opened_at=now - timedelta(hours=2),
        resolved_at=now - timedelta(hours=1),
    )
    Incident.objects.create(environment=staging, url="u", reason="refused", opened_at=now)

    answer = scrape()
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=")
    found = samples(answer.content.decode())

    runs = Counter(Run.objects.values_list("status", flat=True))
    assert runs == {"success": 1, "failure": 1, "queued": 1, "running": 1}
    assert found["conveyor_runs_finished_total"] == {
        labels(repository="shop", status="success"): 1,
        labels(repository="shop", status="failure"): 1,
    }
    assert found["conveyor_runs_active"] == {
        labels(repository="shop", status="queued"): 1,
        labels(repository="shop", status="running"): 1,
    }

    finished = Run.objects.filter(status__in=FINISHED_STATUSES)
    for run in finished:
        duration = (run.finished_at - run.started_at).total_seconds()
        key = labels(repository="shop", status=run.status)
        assert found["conveyor_run_duration_seconds_count"][key] == 1
        assert found["conveyor_run_duration_seconds_sum"][key] == pytest.approx(duration)
        for bound in histograms.DURATION_BOUNDS:
            bucket = labels(repository="shop", status=run.status, le=str(bound))
            assert found["conveyor_run_duration_seconds_bucket"][bucket] == (duration <= bound)
        inf = labels(repository="shop", status=run.status, le="+Inf")
        assert found["conveyor_run_duration_seconds_bucket"][inf] == 1

    jobs = Job.objects.filter(run__in=finished, started_at__isnull=False).exclude(status="skipped")
    job_counts = Counter(jobs.values_list("status", flat=True))
    assert job_counts == {"success": 2, "failure": 1}  # the failed run's deploy was skipped
    assert found["conveyor_job_duration_seconds_count"] == {labels(repository="shop"): 3}
    job_seconds = sum((job.finished_at - job.started_at).total_seconds() for job in jobs)
    assert sum(found["conveyor_job_duration_seconds_sum"].values()) == pytest.approx(job_seconds)

    waits = [(run.started_at - run.created_at).total_seconds() for run in finished]
    assert found["conveyor_queue_wait_seconds_count"] == {labels(repository="shop"): 2}
    assert found["conveyor_queue_wait_seconds_sum"][labels(repository="shop")] == pytest.approx(
        sum(waits)
    )

    assert found["conveyor_queue_length"] == {(): 1}
    assert 600 <= found["conveyor_queue_oldest_seconds"][()] < 3600
    assert found["conveyor_workers_busy"] == {(): 1}
    assert found["conveyor_workers"] == {(): settings.CONVEYOR_WORKERS}

    [deployment] = Deployment.objects.all()
    assert (deployment.environment, deployment.status) == (production, "success")
    assert found["conveyor_deployments"] == {
        labels(repository="shop", environment="production", status="success", state=""): 1
    }
    assert found["conveyor_environment_up"] == {
        labels(repository="shop", environment="production"): 1,
        labels(repository="shop", environment="staging"): 0,
    }
    assert found["conveyor_incidents"] == {
        labels(repository="shop", environment="production"): 1,
        labels(repository="shop", environment="staging"): 1,
    }
    assert found["conveyor_incidents_open"] == {
        labels(repository="shop", environment="production"): 0,
        labels(repository="shop", environment="staging"): 1,
    }

    # A run told finished twice is counted once.
    signals.tell(signals.run_finished, run=good)
    again = samples(scrape().content.decode())
    for name in ("conveyor_runs_finished_total", "conveyor_run_duration_seconds_count"):
        assert again[name] == found[name]


@pytest.mark.django_db
def test_runs_finished_before_the_upgrade_are_tallied_by_its_migration(repository, settings):
    settings.CONVEYOR_METRICS_TOKEN = TOKEN
    now = timezone.now()
    made = []
    for number, status, seconds in ((1, "success", 20), (2, "success", 400), (3, "cancelled", 0)):
        run = Run.objects.create(
            repository=repository, number=number, workflow_path="x.yml", event="push"
        )
        started = None if status == "cancelled" else now - timedelta(seconds=seconds)
        Run.objects.filter(pk=run.pk).update(
            status=status,
            created_at=now - timedelta(seconds=seconds + 2),
            started_at=started,
            finished_at=now,
        )
        made.append(run)
    Job.objects.create(
        run=made[1],
        job_key="build",
        job_id="build",
        status="success",
        started_at=now - timedelta(seconds=300),
        finished_at=now,
    )
    assert "conveyor_runs_finished_total" not in samples(scrape().content.decode())
    migration = importlib.import_module(
        "conveyor.server.insights.migrations.0002_tally_earlier_runs"
    )
    migration.tally_earlier_runs(django_apps, None)
    found = samples(scrape().content.decode())
    assert found["conveyor_runs_finished_total"] == {
        labels(repository="shop", status="success"): 2,
        labels(repository="shop", status="cancelled"): 1,
    }
    success = labels(repository="shop", status="success")
    assert found["conveyor_run_duration_seconds_count"] == {success: 2}
    assert found["conveyor_run_duration_seconds_sum"][success] == pytest.approx(420)
    under_30 = labels(repository="shop", status="success", le="30.0")
    assert found["conveyor_run_duration_seconds_bucket"][under_30] == 1
    shop = labels(repository="shop")
    assert found["conveyor_queue_wait_seconds_sum"][shop] == pytest.approx(4)
    assert found["conveyor_job_duration_seconds_sum"][shop] == pytest.approx(300)
    # The runs it tallied are not tallied again when their end is told.
    for run in made:
        signals.tell(signals.run_finished, run=Run.objects.get(pk=run.pk))
    again = samples(scrape().content.decode())
    assert again["conveyor_runs_finished_total"] == found["conveyor_runs_finished_total"]


@pytest.mark.django_db
def test_without_a_token_set_metrics_is_not_there(settings):
    settings.CONVEYOR_METRICS_TOKEN = ""
    assert scrape().status_code == 404
    assert scrape(None).status_code == 404


@pytest.mark.django_db
def test_the_token_guards_metrics(settings, repository):
    settings.CONVEYOR_METRICS_TOKEN = TOKEN
    missing = scrape(None)
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.content.decode()
    wrong = scrape("not-the-token")
    assert wrong.status_code == 403
    assert "shop" not in wrong.content.decode()
    right = scrape()
    assert right.status_code == 200
    # Nothing ran yet: the families are there, with no samples for runs.
    names = {family.name for family in text_string_to_metric_families(right.content.decode())}
    assert {
        "conveyor_runs_active",
        "conveyor_run_duration_seconds",
        "conveyor_queue_length",
    } <= names
    assert (
        Client().post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405
    )
