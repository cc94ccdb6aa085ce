"""The DORA four keys of an environment, from a history made by hand with exact times:
v1 deployed fine, v2 failed its tests (no deployment), v3 was rolled back and an incident
opened while it was out, v4 deployed fine. Each figure is computed here by hand and the
API must answer exactly that; the page draws the same figures and their trend as SVG."""

from __future__ import annotations

import re
import statistics
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from conveyor.server.insights.models import CommitTime, DeploymentLive
from conveyor.server.monitoring.models import Incident
from conveyor.server.repos.models import Environment
from conveyor.server.runs.models import Deployment, Run, Status
from tests.server import test_ui_support as support
from tests.server.test_api_helpers import Api, cast

# Also run on PostgreSQL by scripts/test (why: see there).
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ui_cast = support.cast


def minutes(count: float) -> timedelta:
    return timedelta(minutes=count)


def make_run(repository: Any, number: int, status: str, when: datetime) -> Run:
    run = Run.objects.create(
        repository=repository,
        number=number,
        workflow_path=".github/workflows/ci.yml",
        event="push",
        ref="refs/heads/main",
        sha=f"{number:x}" * 40,
        status=status,
    )
    Run.objects.filter(pk=run.pk).update(created_at=when, started_at=when, finished_at=when)
    return run


def deploy(
    run: Run, environment: Environment, status: str, state: str, started: datetime, ended: datetime
) -> Deployment:
    return Deployment.objects.create(
        run=run,
        job_key="deploy",
        environment=environment,
        status=status,
        state=state,
        sha=run.sha,
        started_at=started,
        finished_at=ended,
    )


@pytest.fixture
def history(repository: Any) -> dict[str, Any]:
    """The four versions, all within the last six days; returns the times it set."""
    production = Environment.objects.create(repository=repository, name="production")
    Environment.objects.create(repository=repository, name="staging")  # nothing deployed
    base = timezone.now().replace(microsecond=0) - timedelta(days=6)
    times: dict[str, Any] = {"environment": production}
    for number in (1, 2, 3, 4):
        committed = base + timedelta(days=number) - minutes(90)
        times[f"c{number}"] = committed
        run = make_run(
            repository,
            number,
            Status.FAILURE if number in (2, 3) else Status.SUCCESS,
            committed + minutes(5),
        )
        CommitTime.objects.create(repository=repository, sha=run.sha, committed_at=committed)
        times[f"run{number}"] = run
    # v1: started a day minus 60 minutes after base, live 4 minutes later, job ends at 5.
    s1 = base + timedelta(days=1) - minutes(60)
    d1 = deploy(times["run1"], production, "success", "live", s1, s1 + minutes(5))
    DeploymentLive.objects.create(deployment=d1, live_at=s1 + minutes(4))
    # v2 failed its tests: its deploy job never ran, so no deployment.
    # v3: live at first, then unhealthy and rolled back; the job fails.
    s3 = base + timedelta(days=3) - minutes(60)
    d3 = deploy(times["run3"], production, "failure", "rolled-back", s3, s3 + minutes(12))
    DeploymentLive.objects.create(deployment=d3, live_at=s3 + minutes(3))
    Incident.objects.create(
        environment=production,
        deployment=d3,
        url="http://127.0.0.1:8001/healthz",
        reason="500 Internal Server Error",
        opened_at=s3 + minutes(6),
        resolved_at=s3 + minutes(13),
    )
    # v4: no deploy step reported "live": it is live when its job ends.
    s4 = base + timedelta(days=4) - minutes(60)
    deploy(times["run4"], production, "success", "", s4, s4 + minutes(7))
    times.update(s1=s1, s3=s3, s4=s4)
    return times


def by_hand(times: dict[str, Any], days: int) -> dict[str, Any]:
    s1, s3, s4 = times["s1"], times["s3"], times["s4"]
    live1, live4 = s1 + minutes(4), s4 + minutes(7)
    lead_times = [(live1 - times["c1"]).total_seconds(), (live4 - times["c4"]).total_seconds()]
    restores = [
        (minutes(13) - minutes(6)).total_seconds(),  # the incident: opened to resolved
        (live4 - (s3 + minutes(12))).total_seconds(),  # v3's failure until v4 was live
    ]
    return {
        "deployment_frequency": 2 / days,  # v1 and v4
        "lead_time_seconds": statistics.median(lead_times),
        "change_failure_rate": 1 / 3,  # v3 of v1, v3, v4
        "time_to_restore_seconds": statistics.median(restores),
        "deployments": 3,
        "successful_deployments": 2,
        "failed_changes": 1,
        "lead_time_samples": 2,
        "incidents": 1,
        "restore_samples": 2,
        "unrestored": 0,
    }


def test_the_four_keys_of_the_hand_made_history_are_what_the_api_answers(history):
    viewer = Api(cast()["viewer"])
    for days in (7, 30, 90):
        answer = viewer.get("repositories/shop/dora", environment="production", days=days)
        assert answer.status_code == 200, answer.content
        body = answer.json()
        expected = by_hand(history, days)
        assert {key: body[key] for key in expected} == pytest.approx(expected)
        assert [body[key] for key in ("repository", "environment", "days")] == [
            "shop",
            "production",
            days,
        ]
    # By hand, in plain numbers: v1 went live 34 min after its commit, v4 37 min after.
    body = viewer.get("repositories/shop/dora", environment="production", days=7).json()
    assert body["lead_time_seconds"] == (34 * 60 + 37 * 60) / 2
    assert body["change_failure_rate"] == pytest.approx(0.3333333)
    # The incident lasted 7 min; v3 failed at s3+12 min and v4 was live at s4+7 min (1 day later).
    assert body["time_to_restore_seconds"] == (7 * 60 + (24 * 60 - 12 + 7) * 60) / 2


def test_a_deployment_followed_by_an_incident_is_a_failed_change(history):
    # An incident after v4 went live (and no deployment since) makes v4 a failed change;
    # while it is open it is not restored: left out of the median, counted as unrestored.
    Incident.objects.create(
        environment=history["environment"],
        url="http://127.0.0.1:8001/healthz",
        reason="refused",
        opened_at=history["s4"] + timedelta(hours=2),
    )
    body = Api(cast()["viewer"]).get("repositories/shop/dora", environment="production").json()
    assert (body["failed_changes"], body["deployments"]) == (2, 3)
    assert body["change_failure_rate"] == pytest.approx(2 / 3)
    assert (body["incidents"], body["restore_samples"], body["unrestored"]) == (2, 2, 1)
    assert body["time_to_restore_seconds"] == by_hand(history, 30)["time_to_restore_seconds"]


def test_no_deployments_give_nulls_not_zeros(history):
    body = Api(cast()["viewer"]).get("repositories/shop/dora", environment="staging").json()
    assert body["days"] == 30
    for key in (
        "deployment_frequency",
        "lead_time_seconds",
        "change_failure_rate",
        "time_to_restore_seconds",
    ):
        assert body[key] is None, key
    assert (body["deployments"], body["incidents"]) == (0, 0)


@pytest.mark.parametrize(
    ("query", "status", "field", "words"),
    [
        ({"environment": "production", "days": 14}, 400, "days", "14 is not a window: use 7, 30"),
        ({"environment": "production", "days": "week"}, 400, "days", "days:"),
        ({"environment": "moon", "days": 7}, 404, None, "has no environment 'moon'"),
    ],
)
def test_bad_parameters_are_clear_errors(history, query, status, field, words):
    answer = Api(cast()["viewer"]).get("repositories/shop/dora", **query)
    assert answer.status_code == status
    assert answer.json()["field"] == field
    assert words in answer.json()["detail"]


def test_without_an_environment_named_production_or_the_only_one_is_meant(history):
    viewer = Api(cast()["viewer"])
    assert viewer.get("repositories/shop/dora").json()["environment"] == "production"
    history["environment"].delete()  # staging is left, alone
    assert viewer.get("repositories/shop/dora").json()["environment"] == "staging"
    Environment.objects.create(repository=history["environment"].repository, name="review")
    ambiguous = viewer.get("repositories/shop/dora", days=7)
    assert ambiguous.status_code == 400
    assert ambiguous.json() == {
        "detail": "environment: name one of review, staging",
        "field": "environment",
    }


def test_an_unknown_repository_or_no_user_is_refused(history):
    people = cast()
    unknown = Api(people["viewer"]).get("repositories/nope/dora", environment="x")
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "no repository named 'nope'")
    assert Api(people["anonymous"]).get("repositories/shop/dora").status_code == 401


def test_the_page_shows_the_keys_and_their_trend_as_svg(history, ui_cast):
    viewer = ui_cast["viewer"]
    page = viewer.get("/repos/shop/dora/?environment=production&days=7")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'id="deployment-frequency"[^>]*>0\.29 / day<', html)
    assert re.search(r'id="change-failure-rate"[^>]*>33%<', html)
    assert re.search(r'id="lead-time"[^>]*>35m 30s<', html)  # (34 + 37) / 2 min
    svgs = re.findall(r"<svg [^>]*>.*?</svg>", html, re.S)
    assert len(svgs) == 4
    for svg in svgs:  # well-formed SVG, each with its title
        assert ElementTree.fromstring(svg).find("{http://www.w3.org/2000/svg}title") is not None
    # Seven days, one bar or gap per day; the days with a deployment have a bar.
    frequency = svgs[0]
    assert len(re.findall(r'<rect class="(?:bar|bar-empty)"', frequency)) == 7
    assert len(re.findall(r'<rect class="bar" ', frequency)) >= 2
    assert "<script" not in html.split("</main>")[0].split("<main")[1]
    # 90 days: per week.
    weekly = viewer.get("/repos/shop/dora/?environment=production&days=90").content.decode()
    assert "Trend per week" in weekly
    # Linked from the repository's and the environment's pages.
    assert 'id="dora-link"' in viewer.get("/repos/shop/").content.decode()
    environment_page = viewer.get("/repos/shop/environments/production/").content.decode()
    assert "/repos/shop/dora/?environment=production" in environment_page


def test_the_page_refuses_bad_parameters(history, ui_cast):
    viewer = ui_cast["viewer"]
    bad = viewer.get("/repos/shop/dora/?days=3")
    assert bad.status_code == 400
    assert "7, 30 or 90" in bad.content.decode()
    assert viewer.get("/repos/shop/dora/?environment=moon").status_code == 404
    # Without a choice it shows production.
    assert "to <strong>production</strong>" in viewer.get("/repos/shop/dora/").content.decode()


def test_a_repository_without_environments_says_where_the_keys_come_from(repository, ui_cast):
    page = ui_cast["viewer"].get("/repos/shop/dora/").content.decode()
    assert 'id="no-environment"' in page
    assert "<svg" not in page.split("<main")[1]
    answer = Api(cast()["viewer"]).get("repositories/shop/dora")
    assert answer.status_code == 400
    assert answer.json()["detail"] == (
        "environment: repository 'shop' has no environment yet: its deployments name one "
        "with `environment:`"
    )
