"""The health watch against a real HTTP app on 127.0.0.1 whose health a test flips:
incidents opened with the failing response and resolved with their duration, once each;
the closer watch after a deployment went live; the environment's page and API showing
health, incidents and deployments on one timeline; who may change the settings.

No timing is asserted: each test waits for conditions, with a deadline."""

from __future__ import annotations

import re

import pytest

from conveyor.server.monitoring.models import HealthCheck, Incident
from conveyor.server.monitoring.probe import probe
from conveyor.server.repos.models import Environment
from tests.server import test_ui_support as support
from tests.server.conftest import free_port, wait_for
from tests.server.monitoring_support import (
    app,
    incident_signals,
    start_watch,
    went_live,
)
from tests.server.test_api_helpers import Api
from tests.server.test_api_helpers import cast as api_people

cast = support.cast
__all__ = ["app", "cast", "incident_signals", "start_watch"]  # fixtures, used by name

pytestmark = pytest.mark.django_db(transaction=True)


def checked_since(app, count: int) -> None:
    """Wait until ``app`` answered ``count`` more checks."""
    seen = len(app.hosts)
    wait_for(lambda: len(app.hosts) >= seen + count, what=f"{count} more checks")


def test_an_incident_opens_once_with_the_failing_response_and_resolves_with_its_duration(
    repository, app, start_watch, incident_signals
):
    production = Environment.objects.create(repository=repository, name="production")
    check = HealthCheck.objects.create(environment=production, health_url=app.url)
    start_watch()

    wait_for(lambda: HealthCheck.objects.get(pk=check.pk).state == "up", what="up")
    assert Incident.objects.count() == 0

    app.flip(500, "database unreachable: " + "x" * 1000)
    incident = wait_for(lambda: Incident.objects.filter(environment=production).first())
    assert incident.is_open and incident.url == app.url
    assert incident.reason.startswith("HTTP 500 Internal Server Error: database unreachable: xxx")
    assert len(incident.reason) < 400  # the start of the body, not all of it
    down = HealthCheck.objects.get(pk=check.pk)
    assert down.state == "down" and down.state_since == incident.opened_at
    # Still down, checked again and again: the same incident, no other.
    checked_since(app, 5)
    assert Incident.objects.count() == 1

    app.flip(200, "ok")
    wait_for(lambda: not Incident.objects.get(pk=incident.pk).is_open, what="the resolution")
    incident.refresh_from_db()
    assert incident.duration is not None and incident.duration.total_seconds() > 0
    assert HealthCheck.objects.get(pk=check.pk).state == "up"
    checked_since(app, 3)
    assert Incident.objects.count() == 1
    assert incident_signals == [(incident.pk, True), (incident.pk, False)]

    # No answer at all: the incident says why.
    port = free_port()
    HealthCheck.objects.filter(pk=check.pk).update(health_url=f"http://127.0.0.1:{port}/healthz")
    refused = wait_for(lambda: Incident.objects.filter(resolved_at__isnull=True).first())
    assert refused.reason == f"connection refused by 127.0.0.1:{port}"


def test_a_deployment_that_went_live_is_checked_at_its_address_closely(
    repository, app, start_watch, tmp_path
):
    """The hour-long interval would check each environment once; the one just deployed
    is checked again and again, at its deploy's bind and health path, with its Host."""
    production = Environment.objects.create(repository=repository, name="production")
    staging = Environment.objects.create(repository=repository, name="staging")
    HealthCheck.objects.create(environment=staging, health_url=app.url.replace("healthz", "s"))
    watch = start_watch(interval=3600, close_interval=0.05)
    wait_for(lambda: HealthCheck.objects.get(environment=staging).state == "up", what="staging")

    deployment = went_live(
        production, 1, str(tmp_path / "srv"), app.address, "r1", health_host="shop.example"
    )
    check = HealthCheck.objects.get(environment=production)
    assert check.url == app.url and check.host == "shop.example"
    assert check.live_deployment == deployment and check.watched_from is not None
    checked_since(app, 5)
    assert app.hosts.count("shop.example") >= 5
    staging_checks = len([host for host in app.hosts if host != "shop.example"])
    assert staging_checks == 1  # the hour-long interval
    fresh = HealthCheck.objects.get(environment=production)
    assert watch.closely_watched(fresh, fresh.watched_from)


def test_a_probe_says_what_was_wrong(app):
    assert probe(app.url).healthy
    app.flip(503, "")
    assert probe(app.url).detail == "HTTP 503 Service Unavailable"
    refused = probe("ftp://example.com/").detail
    assert refused == "'ftp://example.com/' is not an http:// or https:// URL"


def test_the_page_shows_health_and_one_timeline_of_deployments_and_incidents(
    repository, cast, app, start_watch, tmp_path
):
    production = Environment.objects.create(repository=repository, name="production")
    first = went_live(production, 1, str(tmp_path / "srv"), app.address, "r1")
    app.flip(500, "boom")
    start_watch(interval=0.05)
    incident = wait_for(lambda: Incident.objects.first())
    assert incident.deployment == first
    app.flip(200, "ok")
    wait_for(lambda: not Incident.objects.get(pk=incident.pk).is_open, what="the resolution")
    went_live(production, 2, str(tmp_path / "srv"), app.address, "r2")

    page = cast["viewer"].get("/repos/shop/environments/production/").content.decode()
    health = re.search(r'id="environment-health">(.*?)</section>', page, re.S).group(1)
    assert 'data-health="up"' in health and app.url in health and "last checked" in health
    rows = re.findall(r'data-kind="(\w+)"', page)
    assert rows == ["deployment", "incident", "deployment"]  # newest first, mixed
    timeline = re.search(r'id="environment-timeline">(.*?)</table>', page, re.S).group(1)
    assert "HTTP 500 Internal Server Error: boom" in timeline and "resolved" in timeline
    assert "Rollback" not in page and "health-settings" not in page  # a viewer's page
    member_page = cast["member"].get("/repos/shop/environments/production/").content.decode()
    assert "health-settings" not in member_page
    # This (sandboxed) server would refuse it: the page says why instead of a button.
    assert "No Rollback button: a sandboxed server rolls back ssh:// targets only" in member_page
    assert "Rollback</button>" not in member_page

    people = api_people()
    viewer = Api(people["viewer"])
    shown = viewer.get("repositories/shop/environments/production/health").json()
    assert shown["state"] == "up" and shown["url"] == app.url and shown["watching"] is True
    assert shown["closely_watched_until"] is not None and shown["open_incident"] is None
    [listed] = viewer.get("repositories/shop/environments/production/incidents").json()
    assert listed["id"] == incident.pk and listed["reason"] == incident.reason
    assert listed["duration_seconds"] > 0 and listed["deployment"] == first.pk


def test_only_admins_change_the_health_settings_and_bad_urls_are_refused(repository, cast):
    Environment.objects.create(repository=repository, name="production")
    page = "/repos/shop/environments/production/"
    form = {"health_url": "https://shop.example/healthz", "auto_rollback": "on"}
    assert cast["member"].post(page + "health", form).status_code == 403
    assert not HealthCheck.objects.exists()
    assert cast["admin"].post(page + "health", form).status_code == 302
    check = HealthCheck.objects.get()
    assert check.health_url == "https://shop.example/healthz" and check.auto_rollback
    reply = cast["admin"].post(page + "health", {"health_url": "shop.example"}, follow=True)
    assert "Not saved: health URL: &#x27;shop.example&#x27; is not an http:// or https://" in (
        reply.content.decode()
    )

    people = api_people()
    path = "repositories/shop/environments/production/health"
    body = {"health_url": "http://127.0.0.1:9/up", "auto_rollback": False}
    assert Api(people["member"]).put(path, body).status_code == 403
    reply = Api(people["admin"]).put(path, body)
    assert reply.status_code == 200, reply.content
    assert reply.json()["health_url"] == "http://127.0.0.1:9/up"
    assert reply.json()["auto_rollback"] is False
    bad = Api(people["admin"]).put(path, {"health_url": "nope"})
    assert bad.status_code == 400 and bad.json()["field"] == "health_url"


def test_a_deploy_steps_live_event_through_the_runs_sink_tells_the_watch(repository, app):
    """The run's DatabaseSink stores the step's DeploymentChanged and sends it along with
    ``deployment_changed``: the environment's check is then the deploy's own."""
    from conveyor.engine import events as ev
    from conveyor.server.runs.models import Deployment
    from conveyor.server.runs.sink import DatabaseSink
    from conveyor.workflow.load import parse_workflow
    from tests.server.monitoring_support import make_run

    production = Environment.objects.create(repository=repository, name="production")
    run = make_run(repository, 1, "running")
    # What the environment gate makes when the job names the environment.
    Deployment.objects.create(run=run, job_key="deploy", environment=production)
    sink = DatabaseSink(run, parse_workflow("steps:\n  - run: deploy\n", ".conveyor.yml"))
    try:
        for state in ("deploying", "health-checking", "live"):
            sink.emit(
                ev.DeploymentChanged(
                    "deploy",
                    0,
                    state,
                    "/srv/shop",
                    "r1",
                    f"http://{app.address}",
                    health_path="/healthz",
                    health_host="shop.example" if state == "live" else "",
                )
            )
        check = wait_for(lambda: HealthCheck.objects.filter(environment=production).first())
    finally:
        sink.close()
    assert (check.url, check.host) == (app.url, "shop.example")
    assert check.live_deployment.run == run and check.watched_from is not None


def test_an_automatic_rollback_waits_for_a_deploy_holding_the_environment(
    repository, app, start_watch, tmp_path, settings
):
    settings.CONVEYOR_SANDBOX = False
    from conveyor.server.runs.models import Deployment
    from tests.server.monitoring_support import make_run

    target = tmp_path / "srv"
    (target / ".conveyor").mkdir(parents=True)  # a target directory with no release in it
    production = Environment.objects.create(repository=repository, name="production")
    went_live(production, 1, str(target), app.address, "r1")
    HealthCheck.objects.filter(environment=production).update(auto_rollback=True)
    holding = Deployment.objects.create(
        run=make_run(repository, 2, "running"),
        job_key="deploy",
        environment=production,
        status="running",
    )
    app.flip(500, "broken")
    start_watch(close_interval=0.05)
    wait_for(lambda: Incident.objects.exists(), what="an incident")
    checked_since(app, 5)
    assert not HealthCheck.objects.get(environment=production).auto_rolled_back
    assert not Deployment.objects.filter(job_key__startswith="rollback@").exists()

    Deployment.objects.filter(pk=holding.pk).update(status="success")
    row = wait_for(lambda: Deployment.objects.filter(job_key__startswith="rollback@").first())
    row = wait_for(
        lambda: Deployment.objects.filter(pk=row.pk, status="failure").first(),
        what="the rollback to fail",
    )
    assert row.triggered_by == "health watch"
    assert row.reason.startswith("r1 failed its health check within 10 minutes of going live")
    assert f"it failed: {target} has no current release to roll back" in row.reason
    assert Deployment.objects.filter(job_key__startswith="rollback@").count() == 1


def test_a_sandboxed_server_says_why_it_rolled_nothing_back(repository, app, start_watch, tmp_path):
    production = Environment.objects.create(repository=repository, name="production")
    went_live(production, 1, str(tmp_path / "srv"), app.address, "r1")
    HealthCheck.objects.filter(environment=production).update(auto_rollback=True)
    app.flip(500, "broken")
    start_watch(close_interval=0.05)
    check = wait_for(
        lambda: HealthCheck.objects.filter(environment=production, auto_rolled_back=True).first(),
        what="the rollback refused",
    )
    assert "(no automatic rollback: a sandboxed server rolls back ssh:// targets only" in (
        check.last_result
    )
    from conveyor.server.runs.models import Deployment

    assert not Deployment.objects.filter(job_key__startswith="rollback@").exists()


def test_a_forks_deployment_never_points_the_watch_or_the_rollback_elsewhere(
    repository, app, tmp_path
):
    """A fork's code chose its deploy's bind and target: the environment's watch keeps
    checking the last deployment of the repository's own code, and a rollback undoes
    that one, not the fork's."""
    from conveyor.engine.events import DeploymentChanged
    from conveyor.server.monitoring.rollback import last_live_deployment
    from conveyor.server.runs import signals
    from conveyor.server.runs.models import Deployment, Run

    production = Environment.objects.create(repository=repository, name="production")
    ours = went_live(production, 1, str(tmp_path / "srv"), app.address, "r1")
    fork_run = Run.objects.create(
        repository=repository,
        number=2,
        workflow_path="deploy.yml",
        event="pull_request",
        ref="refs/pull/7/merge",
        sha="f" * 40,
        status="success",
        from_fork=True,
    )
    forks = Deployment.objects.create(
        run=fork_run,
        job_key="deploy",
        environment=production,
        status="success",
        state="live",
        target="ssh://them@evil.example/srv",
        url="http://10.0.0.5:80",
    )
    event = DeploymentChanged(
        "deploy", 0, "live", forks.target, "r2", url=forks.url, health_path="/admin"
    )
    signals.tell(signals.deployment_changed, deployment=forks, event=event)
    check = HealthCheck.objects.get(environment=production)
    assert check.live_deployment == ours and check.url == app.url
    assert last_live_deployment(production) == ours
