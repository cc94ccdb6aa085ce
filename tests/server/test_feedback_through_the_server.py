"""Feedback & Monitoring made real (issue 9), end to end through the server: the deploy
issue's history (v1 good, v2 failing a test, v3 live then unhealthy and rolled back,
v4 good) pushed to a repository whose ``production`` environment the health watch
probes. Afterwards:

- the incident v3 caused is recorded, resolved, with its duration;
- the DORA four keys of ``production`` are exactly what the history makes them,
  computed here by hand from the recorded moments (docs/dora.md);
- every notification arrived once, by e-mail at a real SMTP server and as a signed
  webhook at a real HTTP receiver.

Real parts: django-admin's project, git push, the embedded workers, pip, gunicorn,
the deploy's proxy, the health watch's thread, aiosmtpd, an HTTP receiver.
"""

from __future__ import annotations

import statistics
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conveyor.server.insights.models import DeploymentLive
from conveyor.server.monitoring.models import Incident
from conveyor.server.notifications.models import Channel
from conveyor.server.repos.models import Environment
from conveyor.server.runs.models import Deployment
from tests.cli import deploy_projects as shop
from tests.cli.test_deploy_django import served
from tests.server import notify_support
from tests.server.monitoring_support import start_watch
from tests.server.notify_support import Mailbox, Receiver
from tests.server.test_api_helpers import Api, cast
from tests.server.test_seed_deploys_through_the_server import (
    log_of,
    push,
    shop_repository,
    trusted_server,
)

mailbox = notify_support.mailbox
receiver = notify_support.receiver
deliveries = notify_support.deliveries
__all__ = ["shop_repository", "start_watch", "trusted_server"]  # fixtures, used by name

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EVERY_EVENT = [
    "run.failed",
    "run.fixed",
    "deploy.started",
    "deploy.succeeded",
    "deploy.rolled-back",
    "incident.opened",
    "incident.resolved",
]


def commit_time(project: Path, sha: str) -> datetime:
    seconds = subprocess.run(
        ["git", "show", "-s", "--format=%ct", sha],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return datetime.fromtimestamp(int(seconds), UTC)


def live_at(deployment: Deployment) -> datetime:
    return DeploymentLive.objects.get(deployment=deployment).live_at


def test_the_history_is_watched_measured_and_told(
    trusted_server,
    shop_repository,
    workers,
    start_watch,
    deliveries,
    mailbox: Mailbox,
    receiver: Receiver,
) -> None:
    project, target, bind, repository = shop_repository
    for kind, address in (("email", "team@shop.example"), ("webhook", f"{receiver.url}/in")):
        channel = Channel(
            repository=repository, name=kind, kind=kind, target=address, events=EVERY_EVENT
        )
        channel.set_secret("signing-secret")
        channel.save()
    (project / ".conveyor.yml").write_text(
        shop.production_workflow(
            target, bind, with_tests=True, health_timeout="20", watch_seconds="3"
        )
    )
    shop.commit(project, "v1")
    start_watch(interval=0.2, close_interval=0.1)

    v1 = push(project, repository)
    assert v1.status == "success", v1.reason + log_of(v1)
    assert served(bind) == "shop v1"

    shop.set_version(project, "v2")
    shop.add_failing_test(project)
    shop.commit(project, "v2")
    v2 = push(project, repository)
    assert v2.status == "failure"

    shop.remove_failing_test(project)
    shop.set_version(project, "v3", health="breaks-after-2")
    shop.commit(project, "v3")
    v3 = push(project, repository)
    assert v3.status == "failure"
    assert v3.pipeline_status == "Rolled back"

    shop.set_version(project, "v4")
    shop.commit(project, "v4")
    v4 = push(project, repository)
    assert v4.status == "success", v4.reason + log_of(v4)
    assert served(bind) == "shop v4"

    production = Environment.objects.get(repository=repository, name="production")
    deployed = {d.run_id: d for d in Deployment.objects.filter(environment=production)}
    assert sorted(deployed) == sorted([v1.pk, v3.pk, v4.pk])  # v2 never reached deploy
    assert deployed[v3.pk].state == "rolled-back"

    # The incident v3 caused: opened while it served, resolved once v1 served again.
    [incident] = Incident.objects.filter(environment=production)
    assert incident.deployment == deployed[v3.pk]
    assert incident.resolved_at is not None and incident.duration.total_seconds() > 0
    assert "500" in incident.reason

    # DORA by hand (docs/dora.md): 3 deployments, 2 successful; v3 the failed change.
    lead_times = [
        (live_at(deployed[run.pk]) - commit_time(project, run.sha)).total_seconds()
        for run in (v1, v4)
    ]
    restores = [
        incident.duration.total_seconds(),
        (live_at(deployed[v4.pk]) - deployed[v3.pk].finished_at).total_seconds(),
    ]
    reply = Api(cast()["viewer"]).get("repositories/shop/dora?environment=production&days=7")
    assert reply.status_code == 200, reply.content
    keys = reply.json()
    assert keys["deployments"] == 3 and keys["successful_deployments"] == 2
    assert keys["deployment_frequency"] == pytest.approx(2 / 7)
    assert keys["lead_time_seconds"] == pytest.approx(statistics.median(lead_times))
    assert keys["change_failure_rate"] == pytest.approx(1 / 3)
    assert keys["time_to_restore_seconds"] == pytest.approx(statistics.median(restores))

    # Every notification once, on both channels.
    told = Counter(
        {
            "run.failed": 2,  # v2, v3
            "run.fixed": 1,  # v4
            "deploy.started": 3,  # v1, v3, v4
            "deploy.succeeded": 2,  # v1, v4
            "deploy.rolled-back": 1,  # v3
            "incident.opened": 1,
            "incident.resolved": 1,
        }
    )
    notify_support.wait_until_sent(2 * sum(told.values()), "every notification")
    hooks = Counter(request.headers["X-Conveyor-Event"] for request in receiver.received())
    assert hooks == told
    assert len(mailbox.messages) == sum(told.values())
