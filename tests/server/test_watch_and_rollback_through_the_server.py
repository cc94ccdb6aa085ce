"""The whole path on a real (trusted) server: the shop's workflow deploys to the
``production`` environment with ``conveyor/deploy-django@v1``, run by the embedded
workers, twice (v1, v2). The deploy step's ``live`` event reaches the health watch
through the run's sink (the bind, the health path, the Host the project accepts); the
watch finds it up; a member rolls it back through the API, and v1 serves again.

Real parts: django-admin's project, git push, the workers, pip, gunicorn, the deploy's
proxy, the watch's thread and checks, the rollback's thread."""

from __future__ import annotations

import pytest

from conveyor.server.monitoring.models import HealthCheck
from conveyor.server.repos.models import Environment
from conveyor.server.runs.models import Deployment
from tests.cli import deploy_projects as shop
from tests.cli.test_deploy_django import served
from tests.server.conftest import wait_for
from tests.server.monitoring_support import start_watch
from tests.server.test_api_helpers import Api
from tests.server.test_api_helpers import cast as api_people
from tests.server.test_seed_deploys_through_the_server import (
    log_of,
    push,
    shop_repository,
    trusted_server,
)

__all__ = ["shop_repository", "start_watch", "trusted_server"]  # fixtures, used by name

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_deploy_through_the_server_is_watched_and_rolled_back(
    trusted_server, shop_repository, workers, start_watch
) -> None:
    project, target, bind, repository = shop_repository
    (project / ".conveyor.yml").write_text(
        shop.production_workflow(target, bind, watch_seconds="1")
    )
    shop.commit(project, "deploy to production")
    v1 = push(project, repository)
    assert v1.status == "success", v1.reason + log_of(v1)
    shop.set_version(project, "v2")
    shop.commit(project, "v2")
    v2 = push(project, repository)
    assert v2.status == "success", v2.reason + log_of(v2)
    assert served(bind) == "shop v2"

    production = Environment.objects.get(repository=repository, name="production")
    check = HealthCheck.objects.get(environment=production)
    [v2_deployment] = Deployment.objects.filter(run=v2)
    assert check.live_deployment == v2_deployment
    assert (check.url, check.host) == (f"http://{bind}/healthz", "shop.example")
    start_watch(interval=3600, close_interval=0.1)
    wait_for(lambda: HealthCheck.objects.get(pk=check.pk).state == "up", what="up")

    member = Api(api_people()["member"])
    reply = member.post("repositories/shop/environments/production/rollback", {})
    assert reply.status_code == 202, reply.content
    row = wait_for(
        lambda: (
            Deployment.objects.filter(pk=reply.json()["id"], status="success").first()
            or Deployment.objects.filter(pk=reply.json()["id"], status="failure").first()
        ),
        timeout=120,
        what="the rollback to end",
    )
    assert row.status == "success", row.reason
    assert row.run == v2 and row.state == "rolled-back" and row.sha == v1.sha
    assert served(bind) == "shop v1"
    history = member.get("repositories/shop/environments/production/deployments").json()
    assert [(item["run_number"], item["state"]) for item in history] == [
        (v2.number, "rolled-back"),
        (v2.number, "live"),
        (v1.number, "live"),
    ]
    assert HealthCheck.objects.get(pk=check.pk).watched_from is None  # the closer watch ends
