"""The run page's concept flow tells the truth: Production shows what the run's deploy
step reported (DeploymentChanged, stored by the DatabaseSink), "not deployed" when
nothing deployed; Feedback shows what the run reported."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conveyor.engine import events as ev
from conveyor.server.runs.models import Deployment, Run, Status
from conveyor.server.runs.sink import DatabaseSink
from conveyor.server.ui.live_state import run_state
from conveyor.workflow.load import parse_workflow
from tests.server import test_ui_support as support
from tests.server.conftest import wait_for

cast = support.cast

pytestmark = pytest.mark.django_db(transaction=True)

SEED = """\
on: push
steps:
  - name: Build
    run: make
  - name: Test
    run: make test
  - name: Deploy
    uses: conveyor/deploy-django@v1
    with: {target: /srv/shop, bind: "127.0.0.1:8001", health-path: /healthz}
"""
OK = ev.Status.SUCCESS
FAILED = ev.Status.FAILURE
TARGET = "/srv/shop"


def make_run(repository: Any) -> Run:
    return Run.objects.create(
        repository=repository,
        number=1,
        workflow_path=".conveyor.yml",
        event="push",
        sha="a" * 40,
        status=Status.RUNNING,
    )


def flow_of(run: Run) -> dict[str, tuple[str, str]]:
    run = Run.objects.get(pk=run.pk)
    return {node["name"]: (node["detail"], node["status"]) for node in run_state(run)["flow"]}


def production(run: Run) -> tuple[str, str]:
    return flow_of(run)["Production"]


def finish(run: Run, status: str) -> None:
    Run.objects.filter(pk=run.pk).update(status=status)  # as execute_run records the end


def start(sink: DatabaseSink, run: Run) -> None:
    sink.emit(ev.RunStarted("", run.workflow_path, "push", "refs/heads/main", run.sha, ["build"]))
    sink.emit(ev.JobStarted("build", "build", "build"))
    for index, name in enumerate(("Build", "Test")):
        sink.emit(ev.StepStarted("build", index, name, "make"))
        sink.emit(ev.StepFinished("build", index, name, OK, OK, 0.1, 0))


def deploy_states(sink: DatabaseSink, run: Run, states: list[str]) -> list[tuple[str, str]]:
    """Emit each state and read Production once the sink stored it (the page's live view)."""
    seen = []
    sink.emit(ev.StepStarted("build", 2, "Deploy", "uses: conveyor/deploy-django@v1"))
    for state in states:
        reason = "health check /healthz answered 500" if state == "rolled-back" else None
        sink.emit(
            ev.DeploymentChanged(
                "build", 2, state, TARGET, "20261201-aaaaaaa", "http://127.0.0.1:8001", reason
            )
        )
        wait_for(
            lambda state=state: Deployment.objects.filter(run=run, state=state).exists(),
            what=f"state {state}",
        )
        seen.append(production(run))
    return seen


def test_a_run_that_deploys_nothing_says_not_deployed(repository):
    run = make_run(repository)
    sink = DatabaseSink(run, parse_workflow(SEED.split("  - name: Deploy")[0], ".conveyor.yml"))
    try:
        start(sink, run)
        wait_for(lambda: flow_of(run).get("Test") == ("success", "success"), what="Test stored")
        assert production(run) == ("not deployed yet", "queued")
        assert flow_of(run)["Feedback"] == ("not yet", "queued")
        sink.emit(ev.JobFinished("build", "build", OK, 0.3))
        sink.emit(ev.RunFinished(OK, 0.4))
    finally:
        sink.close()
    finish(run, Status.SUCCESS)
    flow = flow_of(run)
    # Success, and yet nothing reached production: the flow says so.
    assert flow["Production"] == ("not deployed", "skipped")
    assert flow["Feedback"] == (Run.objects.get(pk=run.pk).pipeline_status, "success")
    assert flow["Feedback"][0] != "success"
    assert not Deployment.objects.exists()


def test_a_deployment_that_goes_live_shows_each_state_then_live(repository, cast):
    run = make_run(repository)
    sink = DatabaseSink(run, parse_workflow(SEED, ".conveyor.yml"))
    try:
        start(sink, run)
        seen = deploy_states(sink, run, ["deploying", "health-checking", "live"])
        sink.emit(ev.StepFinished("build", 2, "Deploy", OK, OK, 3.0, 0))
        sink.emit(ev.JobFinished("build", "build", OK, 3.3))
        sink.emit(ev.RunFinished(OK, 3.4))
    finally:
        sink.close()
    finish(run, Status.SUCCESS)
    assert seen == [
        ("deploying", "running"),
        ("health-checking", "running"),
        ("live", "success"),
    ]
    assert production(run) == ("live", "success")
    [deployment] = Deployment.objects.all()
    assert (deployment.status, deployment.state, deployment.target) == ("success", "live", TARGET)
    assert (deployment.release, deployment.url) == ("20261201-aaaaaaa", "http://127.0.0.1:8001")
    assert deployment.environment is None  # the job named no environment
    page = cast["viewer"].get(f"/repos/shop/runs/{run.number}/").content.decode()
    flow = re.search(r'<ol class="flow" id="flow">(.*?)</ol>', page, re.S).group(1)
    assert re.search(
        r'data-status="success">.*?<span class="flow-name">Production</span>'
        r'<span class="flow-detail">live</span>',
        flow,
    )


def test_a_rolled_back_deployment_says_rolled_back(repository):
    run = make_run(repository)
    sink = DatabaseSink(run, parse_workflow(SEED, ".conveyor.yml"))
    try:
        start(sink, run)
        seen = deploy_states(sink, run, ["deploying", "health-checking", "live", "rolled-back"])
        sink.emit(ev.StepFinished("build", 2, "Deploy", FAILED, FAILED, 9.0, 1))
        sink.emit(ev.JobFinished("build", "build", FAILED, 9.3))
        sink.emit(ev.RunFinished(FAILED, 9.4, "job build failed"))
    finally:
        sink.close()
    finish(run, Status.FAILURE)
    assert seen[-2:] == [("live", "success"), ("rolled back", "failure")]
    assert production(run) == ("rolled back", "failure")
    assert flow_of(run)["Feedback"][1] == "failure"
    [deployment] = Deployment.objects.all()
    assert (deployment.status, deployment.state) == ("failure", "rolled-back")
    assert deployment.reason == "health check /healthz answered 500"
