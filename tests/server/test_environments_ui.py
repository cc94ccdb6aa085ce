"""The environment page (rules, waiting deployments with Approve/Reject, history), the run
page's approval button, and what a stopped server leaves of an environment's queue."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from conveyor.server.repos.models import Environment
from conveyor.server.runs.environments import try_start
from conveyor.server.runs.models import Deployment, Job, Run
from conveyor.server.runs.recovery import STOPPED_REASON, recover
from conveyor.server.ui.live_state import run_state
from tests.server import test_ui_support as support

cast = support.cast

pytestmark = pytest.mark.django_db(transaction=True)


def make_run(repository, number: int, status: str = "running") -> Run:
    return Run.objects.create(
        repository=repository,
        number=number,
        workflow_path="deploy.yml",
        event="push",
        ref="refs/heads/main",
        sha=f"{number:x}" * 40,
        actor="dora",
        status=status,
    )


def test_the_environment_page_shows_the_rules_waiting_deployments_and_history(cast, repository):
    production = Environment.objects.create(
        repository=repository, name="production", required_approval=True, allowed_branches="main"
    )
    done = make_run(repository, 1, "success")
    now = timezone.now()
    Deployment.objects.create(
        run=done,
        job_key="deploy",
        environment=production,
        status="success",
        state="live",
        sha=done.sha,
        triggered_by="dora",
        approved_by="max",
        url="https://shop.example/",
        started_at=now - timedelta(seconds=42),
        finished_at=now,
    )
    waiting_run = make_run(repository, 2)
    waiting = Deployment.objects.create(
        run=waiting_run, job_key="deploy", environment=production, status="waiting"
    )
    page = cast["viewer"].get("/repos/shop/environments/production/").content.decode()
    rules = re.search(r'id="environment-rules">(.*?)</p>', page, re.S).group(1)
    assert "a member approves each deployment" in rules and "branches main" in rules
    history = re.search(r'id="environment-timeline">(.*?)</table>', page, re.S).group(1)
    assert "live" in history and "max" in history and "https://shop.example/" in history
    assert "42" in history  # the duration
    assert "#1" in history and "#2" in history
    assert 'name="decision" value="approve"' not in page  # a viewer may not approve
    # The repository page links to it.
    assert (
        "/repos/shop/environments/production/"
        in cast["viewer"].get("/repos/shop/").content.decode()
    )

    member_page = cast["member"].get("/repos/shop/environments/production/").content.decode()
    assert 'name="decision" value="approve"' in member_page
    action = f"/repos/shop/environments/production/deployments/{waiting.pk}"
    assert cast["viewer"].post(action, {"decision": "approve"}).status_code == 403
    reply = cast["member"].post(action, {"decision": "approve"})
    assert reply.status_code == 302
    waiting.refresh_from_db()
    assert (waiting.status, waiting.approved_by) == ("queued", "member")


def test_the_run_page_offers_to_approve_and_reject_its_waiting_deployment(cast, repository):
    production = Environment.objects.create(
        repository=repository, name="production", required_approval=True
    )
    run = make_run(repository, 1)
    waiting = Deployment.objects.create(
        run=run, job_key="deploy", environment=production, status="waiting"
    )
    page = cast["member"].get("/repos/shop/runs/1/").content.decode()
    assert f'id="deployment-{waiting.pk}"' in page and "Approve deployment" in page
    # The live stream carries it too, so an open page shows the buttons when it comes.
    decide = f"/repos/shop/environments/production/deployments/{waiting.pk}"
    assert run_state(run)["waiting_deployments"] == [
        {
            "id": waiting.pk,
            "job_key": "deploy",
            "environment": "production",
            "environment_url": "/repos/shop/environments/production/",
            "decide_url": decide,
        }
    ]
    reply = cast["member"].post(
        decide,
        {"decision": "reject", "next": "/repos/shop/runs/1/"},
    )
    assert (reply.status_code, reply["Location"]) == (302, "/repos/shop/runs/1/")
    waiting.refresh_from_db()
    assert (waiting.status, waiting.reason) == ("cancelled", "deployment rejected by member")
    assert "Approve deployment" not in cast["member"].get("/repos/shop/runs/1/").content.decode()
    assert run_state(run)["waiting_deployments"] == []


def test_a_stopped_server_leaves_no_environment_held(repository, settings):
    production = Environment.objects.create(repository=repository, name="production")
    held = make_run(repository, 1)
    Run.objects.filter(pk=held.pk).update(claimed_by=settings.SERVER_ID)
    Job.objects.create(run=held, job_key="deploy", job_id="deploy", status="running")
    holding = Deployment.objects.create(
        run=held, job_key="deploy", environment=production, status="running"
    )
    queued_run = make_run(repository, 2)
    Run.objects.filter(pk=queued_run.pk).update(claimed_by=settings.SERVER_ID)
    Job.objects.create(
        run=queued_run, job_key="deploy", job_id="deploy", status="waiting", reason="waiting"
    )
    queued = Deployment.objects.create(
        run=queued_run, job_key="deploy", environment=production, status="queued"
    )
    recover()
    holding.refresh_from_db()
    queued.refresh_from_db()
    assert (holding.status, holding.reason) == ("failure", STOPPED_REASON)
    assert (queued.status, queued.reason) == ("failure", STOPPED_REASON)
    assert Job.objects.get(run=queued_run).status == "failure"
    # A new run deploys at once.
    fresh = Deployment.objects.create(
        run=make_run(repository, 3), job_key="deploy", environment=production, status="queued"
    )
    assert try_start(fresh)


def test_a_deployment_whose_run_ended_without_ending_it_frees_the_environment(repository):
    production = Environment.objects.create(repository=repository, name="production")
    gone = make_run(repository, 1, "failure")  # e.g. another server's run, ended by hand
    Deployment.objects.create(run=gone, job_key="deploy", environment=production, status="running")
    later = Deployment.objects.create(
        run=make_run(repository, 2), job_key="deploy", environment=production, status="queued"
    )
    assert try_start(later)
    assert Deployment.objects.get(run=gone).status == "failure"
    # And while it runs, the next one waits its turn.
    third = Deployment.objects.create(
        run=make_run(repository, 3), job_key="deploy", environment=production, status="queued"
    )
    assert not try_start(third)


def test_a_later_deployment_never_overtakes_an_earlier_one(repository):
    from conveyor.server.runs.environments import end_deployment

    production = Environment.objects.create(repository=repository, name="production")

    def queued(number: int) -> Deployment:
        return Deployment.objects.create(
            run=make_run(repository, number),
            job_key="deploy",
            environment=production,
            status="queued",
        )

    first, second, third = queued(1), queued(2), queued(3)
    assert not try_start(second)  # the first came earlier
    assert try_start(first)
    end_deployment(first.pk, "success")
    assert not try_start(third)  # free, but the second came first
    assert try_start(second)
    assert not try_start(third)  # the second deploys now
    end_deployment(second.pk, "failure")
    assert try_start(third)
