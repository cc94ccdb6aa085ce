"""Rollback from the server: the environment page's Rollback button, the API endpoint and
the health watch's automatic rollback, each undoing a real Django project deployed twice
to a local target with ``conveyor deploy`` (v1, then v2); and the refusals (a sandboxed
server, nothing live, a deployment in progress, a target not on this machine, a role
too weak, no confirmation).

The deploys report to the server as a deploy step's DeploymentChanged would (through
``deployment_changed``); everything after that is the server's own doing."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor.deploy.state import Target
from conveyor.server.monitoring.models import HealthCheck, Incident
from conveyor.server.monitoring.rollback import WATCH_ACTOR
from conveyor.server.repos.models import Environment
from conveyor.server.runs.models import Deployment
from tests.cli import deploy_projects as shop
from tests.helpers import run_conveyor
from tests.server import test_ui_support as support
from tests.server.conftest import free_port, wait_for
from tests.server.monitoring_support import make_run, start_watch, went_live
from tests.server.test_api_helpers import Api
from tests.server.test_api_helpers import cast as api_people

cast = support.cast
__all__ = ["cast", "start_watch"]  # fixtures, used by name

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "/repos/shop/environments/production/"
API_ROLLBACK = "repositories/shop/environments/production/rollback"


class Deployed:
    """The shop deployed to ``target`` on ``bind``: v1, then v2."""

    def __init__(self, root: Path) -> None:
        self.target = root / "srv" / "shop"
        self.bind = f"127.0.0.1:{free_port()}"
        self.project = shop.make_shop(root / "shop", self.target, self.bind)
        self.releases: list[str] = []

    def deploy(self, version: str, health: str = "ok") -> str:
        if self.releases:
            shop.set_version(self.project, version, health=health)
            shop.commit(self.project, version)
        result = run_conveyor(
            *("deploy", "--target", str(self.target), "--bind", self.bind),
            *("--health-path", "/healthz", "--shared", "db.sqlite3", "--watch-seconds", "0"),
            cwd=self.project,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        release = Target(str(self.target)).current()
        assert release is not None
        self.releases.append(release)
        return release

    def served(self) -> str:
        host, port = self.bind.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", "/", headers={"Host": "shop.example"})
            return connection.getresponse().read().decode().strip()
        finally:
            connection.close()

    def current(self) -> str | None:
        return Target(str(self.target)).current()

    def stop(self) -> None:
        run_conveyor("deploy", "stop", "--target", str(self.target), cwd=self.project)


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployed]:
    shop_deployed = Deployed(tmp_path)
    yield shop_deployed
    shop_deployed.stop()


@pytest.fixture
def unsandboxed(settings: Any) -> None:
    """A server started with --no-sandbox: it may run a project's code on its machine."""
    settings.CONVEYOR_SANDBOX = False


def report_both(environment: Environment, deployed: Deployed) -> tuple[Deployment, Deployment]:
    """v1 and v2 as their deploy steps would have told the server."""
    target = str(deployed.target)
    first, second = deployed.releases
    one = went_live(environment, 1, target, deployed.bind, first, health_host="shop.example")
    two = went_live(environment, 2, target, deployed.bind, second, health_host="shop.example")
    return one, two


def ended(row: Deployment) -> Deployment:
    return wait_for(
        lambda: Deployment.objects.filter(pk=row.pk, status__in=("success", "failure")).first(),
        timeout=120,
        what="the rollback to end",
    )


@pytest.mark.slow
def test_the_rollback_button_and_the_api_roll_a_real_deployment_back(
    repository, cast, deployed, unsandboxed
):
    production = Environment.objects.create(repository=repository, name="production")
    deployed.deploy("v1")
    deployed.deploy("v2")
    assert deployed.served() == "shop v2"
    v1_row, v2_row = report_both(production, deployed)

    # A viewer may not; a member must confirm.
    assert "Rollback</button>" in cast["member"].get(PAGE).content.decode()
    assert cast["viewer"].post(PAGE + "rollback", {"confirm": "yes"}).status_code == 403
    unconfirmed = cast["member"].post(PAGE + "rollback", {}, follow=True).content.decode()
    assert "Rollback not started: tick the box that confirms it." in unconfirmed
    assert deployed.served() == "shop v2"

    reply = cast["member"].post(PAGE + "rollback", {"confirm": "yes"}, follow=True)
    assert "Rollback of production started" in reply.content.decode()
    row = ended(Deployment.objects.get(job_key__startswith="rollback@"))
    assert row.status == "success", row.reason
    assert row.state == "rolled-back" and row.triggered_by == "member"
    assert row.release == deployed.releases[1] and row.sha == v1_row.sha
    assert f"{deployed.releases[0]} serves again" in row.reason
    assert deployed.served() == "shop v1" and deployed.current() == deployed.releases[0]
    page = cast["viewer"].get(PAGE).content.decode()
    assert page.count('data-kind="deployment"') == 3 and "rollback</td>" in page

    # The API: forward again, to v2 (a member's token).
    people = api_people()
    assert Api(people["viewer"]).post(API_ROLLBACK, {}).status_code == 403
    reply = Api(people["member"]).post(API_ROLLBACK, {"to": deployed.releases[1]})
    assert reply.status_code == 202, reply.content
    assert reply.json()["status"] == "running" and reply.json()["triggered_by"] == "max"
    forward = ended(Deployment.objects.get(pk=reply.json()["id"]))
    assert forward.status == "success", forward.reason
    assert deployed.served() == "shop v2"
    listed = Api(people["viewer"]).get("repositories/shop/environments/production/deployments")
    assert [item["id"] for item in listed.json()][:2] == [forward.pk, row.pk]
    assert v2_row.pk in [item["id"] for item in listed.json()]


@pytest.mark.slow
def test_the_watch_rolls_back_a_failing_deployment_only_when_asked(
    repository, deployed, unsandboxed, start_watch
):
    production = Environment.objects.create(repository=repository, name="production")
    deployed.deploy("v1")
    # Healthy when the deploy checks it, failing a few checks later.
    deployed.deploy("v2", health="breaks-after-3")
    _, v2_row = report_both(production, deployed)
    start_watch(interval=3600, close_interval=0.1)

    # Automatic rollback off (the default): an incident, no rollback.
    incident = wait_for(lambda: Incident.objects.first(), timeout=60, what="an incident")
    assert incident.deployment == v2_row and "HTTP 500" in incident.reason
    assert "broken now" in incident.reason
    check = HealthCheck.objects.get(environment=production)
    last = check.last_checked_at
    for _ in range(3):
        last = wait_for(
            lambda last=last: (
                HealthCheck.objects.get(pk=check.pk).last_checked_at != last
                and HealthCheck.objects.get(pk=check.pk).last_checked_at
            ),
            what="another check",
        )
    assert not Deployment.objects.filter(job_key__startswith="rollback@").exists()
    assert deployed.current() == deployed.releases[1]

    # On: the next failing check, still within the closer watch, rolls v2 back.
    HealthCheck.objects.filter(pk=check.pk).update(auto_rollback=True)
    row = wait_for(lambda: Deployment.objects.filter(job_key__startswith="rollback@").first())
    row = ended(row)
    assert row.status == "success", row.reason
    assert row.triggered_by == WATCH_ACTOR and row.state == "rolled-back"
    assert "failed its health check within 10 minutes of going live" in row.reason
    assert deployed.served() == "shop v1"
    # v1 answers: the incident resolves; the closer watch is over; one rollback only.
    wait_for(lambda: not Incident.objects.get(pk=incident.pk).is_open, timeout=30)
    assert Incident.objects.count() == 1
    check.refresh_from_db()
    assert check.watched_from is None and check.auto_rolled_back and check.state == "up"
    assert Deployment.objects.filter(job_key__startswith="rollback@").count() == 1


def test_a_sandboxed_server_refuses_a_directory_target(repository, cast, tmp_path, settings):
    settings.CONVEYOR_SANDBOX = True
    production = Environment.objects.create(repository=repository, name="production")
    went_live(production, 1, str(tmp_path / "srv"), "127.0.0.1:9", "r1")
    reply = cast["member"].post(PAGE + "rollback", {"confirm": "yes"}, follow=True)
    assert "Rollback refused: a sandboxed server rolls back ssh:// targets only" in (
        reply.content.decode()
    )
    people = api_people()
    refused = Api(people["member"]).post(API_ROLLBACK, {})
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith(
        f"a sandboxed server rolls back ssh:// targets only: {tmp_path / 'srv'} is a directory"
    )
    assert "--no-sandbox" in refused.json()["detail"]
    assert not Deployment.objects.filter(job_key__startswith="rollback@").exists()


def test_refusals_say_why(repository, tmp_path, unsandboxed):
    production = Environment.objects.create(repository=repository, name="production")
    member = Api(api_people()["member"])
    nothing = member.post(API_ROLLBACK, {})
    assert nothing.status_code == 409
    assert nothing.json()["detail"] == (
        "environment 'production' has no deployment that went live to roll back"
    )
    assert member.post("repositories/shop/environments/staging/rollback", {}).status_code == 404

    went_live(production, 1, str(tmp_path / "elsewhere"), "127.0.0.1:9", "r1")
    unreachable = member.post(API_ROLLBACK, {}).json()["detail"]
    assert unreachable == (
        f"the target {tmp_path / 'elsewhere'} is not reachable from the server: no deploy "
        "target directory there on this machine"
    )

    (tmp_path / "elsewhere" / ".conveyor").mkdir(parents=True)
    Deployment.objects.create(
        run=make_run(repository, 2, "running"),
        job_key="deploy",
        environment=production,
        status="running",
    )
    busy = member.post(API_ROLLBACK, {})
    assert busy.status_code == 409
    assert busy.json()["detail"] == (
        "a deployment to 'production' is in progress: roll back once it ends"
    )


def test_dora_counts_a_server_rollback_as_the_failure_of_what_it_undid(repository, tmp_path):
    """The rollback's row is no deployment of a change: the deployment it undid failed."""
    from datetime import timedelta

    from django.utils import timezone

    from conveyor.server.insights.dora import four_keys, load_history

    production = Environment.objects.create(repository=repository, name="production")
    went_live(production, 1, str(tmp_path / "srv"), "127.0.0.1:9", "r1")
    undone = went_live(production, 2, str(tmp_path / "srv"), "127.0.0.1:9", "r2")
    Deployment.objects.create(
        run=undone.run,
        job_key="rollback@20261201T190000.000000",
        environment=production,
        status="success",
        state="rolled-back",
        triggered_by="member",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    start = timezone.now() - timedelta(days=1)
    keys = four_keys(load_history(production, start), start, timezone.now() + timedelta(1))
    assert (keys.deployments, keys.successful_deployments, keys.failed_changes) == (2, 1, 1)
