"""What the DORA keys need that the run rows do not keep, recorded from the server's
signals: the commit's time when a run is created (read from the real mirror), and the
moment a deploy step reports ``live`` (through the real DatabaseSink)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from conveyor.engine import events as ev
from conveyor.server.insights.models import CommitTime, DeploymentLive
from conveyor.server.repos.models import Environment
from conveyor.server.runs import services
from conveyor.server.runs.models import Deployment
from conveyor.server.runs.sink import DatabaseSink
from conveyor.workflow.load import parse_workflow
from tests.server.conftest import wait_for, wait_for_run_end
from tests.server.test_api_helpers import Api, cast
from tests.server.test_concept_flow import make_run

pytestmark = pytest.mark.django_db(transaction=True)

WORKFLOW = """\
on: push
jobs:
  deploy:
    runs-on: local
    environment: production
    steps:
      - run: echo deploying
"""


def test_lead_time_runs_from_the_commits_own_time_to_the_deployment(
    repository, git_project, workers, monkeypatch
):
    Environment.objects.create(repository=repository, name="production")
    committed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    monkeypatch.setenv("GIT_COMMITTER_DATE", committed.isoformat())
    git_project.commit({".github/workflows/ci.yml": WORKFLOW, "stamp": f"{time.time()}"})
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    _, sha = git_project.push()
    [run] = services.create_runs_for_event(repository, event="push", ref="refs/heads/main", sha=sha)
    # Recorded when the run was created, from the mirror.
    assert CommitTime.objects.get(repository=repository, sha=sha).committed_at == committed
    assert wait_for_run_end(run).status == "success"
    [deployment] = Deployment.objects.all()
    expected = (deployment.finished_at - committed).total_seconds()
    viewer = Api(cast()["viewer"])
    body = viewer.get("repositories/shop/dora", environment="production", days=7).json()
    assert body["lead_time_seconds"] == pytest.approx(expected)
    assert (body["deployments"], body["successful_deployments"]) == (1, 1)
    # A commit whose time was not recorded (a run from before insights) is read when needed.
    CommitTime.objects.all().delete()
    again = viewer.get("repositories/shop/dora", environment="production", days=7).json()
    assert again["lead_time_seconds"] == body["lead_time_seconds"]
    assert CommitTime.objects.filter(sha=sha).exists()


SEED = """\
on: push
steps:
  - name: Deploy
    uses: conveyor/deploy-django@v1
    with: {target: /srv/shop}
"""


def test_the_first_live_state_is_when_the_deployment_went_live(repository):
    run = make_run(repository)  # running, as a worker's run is
    sink = DatabaseSink(run, parse_workflow(SEED, ".conveyor.yml"))
    try:
        sink.emit(
            ev.RunStarted("", run.workflow_path, "push", "refs/heads/main", run.sha, ["build"])
        )
        sink.emit(ev.JobStarted("build", "build", "build"))
        sink.emit(ev.StepStarted("build", 0, "Deploy", "uses: conveyor/deploy-django@v1"))
        for state in ("deploying", "health-checking"):
            sink.emit(
                ev.DeploymentChanged(
                    "build", 0, state, "/srv/shop", "r1", "http://127.0.0.1:8001", None
                )
            )
        wait_for(lambda: Deployment.objects.filter(state="health-checking").exists(), what="state")
        assert not DeploymentLive.objects.exists()
        before = timezone.now()
        sink.emit(
            ev.DeploymentChanged(
                "build", 0, "live", "/srv/shop", "r1", "http://127.0.0.1:8001", None
            )
        )
        live = wait_for(lambda: DeploymentLive.objects.first(), what="the live moment")
        after = timezone.now()
        # Told again (the step reports live twice, or the job's end is told): the first stays.
        sink.emit(
            ev.DeploymentChanged(
                "build", 0, "live", "/srv/shop", "r1", "http://127.0.0.1:8001", None
            )
        )
        sink.emit(ev.JobFinished("build", "build", ev.Status.SUCCESS, 1.0))
        sink.emit(ev.RunFinished(ev.Status.SUCCESS, 1.1))
    finally:
        sink.close()
    assert before <= live.live_at <= after
    assert list(DeploymentLive.objects.values_list("live_at", flat=True)) == [live.live_at]
