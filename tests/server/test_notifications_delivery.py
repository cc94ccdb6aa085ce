"""Deploys and incidents told to Slack- and Discord-compatible receivers (real HTTP
servers on 127.0.0.1), per repository and per environment; a failing receiver retried
with exponential backoff, the attempts on the settings page; giving up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conveyor.server.monitoring.models import Incident
from conveyor.server.notifications.delivery import deliver_due
from conveyor.server.notifications.models import Channel, Outbound
from conveyor.server.repos.models import Environment
from conveyor.server.runs import services, signals
from conveyor.server.runs.models import Deployment, Run
from tests.server import notify_support as support
from tests.server import test_ui_support as ui_support
from tests.server.conftest import wait_for_run_end
from tests.server.notify_support import Receiver, wait_until_sent

deliveries = support.deliveries
receiver = support.receiver
cast = ui_support.cast

pytestmark = pytest.mark.django_db(transaction=True)

DEPLOY_WORKFLOW = """\
name: Deploy
on: push
jobs:
  deploy:
    runs-on: local
    environment:
      name: production
      url: https://shop.example/
    steps:
      - run: echo "deploying"
"""
DEPLOY_EVENTS = ["deploy.started", "deploy.succeeded", "deploy.rolled-back"]
INCIDENT_EVENTS = ["incident.opened", "incident.resolved"]


def open_incident(environment: Environment, deployment: Deployment | None = None) -> Incident:
    incident = Incident.objects.create(
        environment=environment,
        deployment=deployment,
        url="https://shop.example/health",
        reason="HTTP 502: Bad Gateway",
        opened_at=timezone.now() - timedelta(seconds=90),
    )
    signals.tell(signals.incident_changed, incident=incident)
    return incident


def resolve(incident: Incident) -> None:
    incident.resolved_at = incident.opened_at + timedelta(seconds=75)
    incident.save()
    signals.tell(signals.incident_changed, incident=incident)


def test_deploys_and_incidents_reach_slack_and_discord_per_repository_and_environment(
    repository, git_project, workers, deliveries, receiver: Receiver
):
    production = Environment.objects.create(repository=repository, name="production")
    staging = Environment.objects.create(repository=repository, name="staging")
    everything = DEPLOY_EVENTS + INCIDENT_EVENTS
    Channel.objects.create(
        repository=repository,
        name="slack",
        kind="slack",
        target=f"{receiver.url}/slack",
        events=everything,
    )
    Channel.objects.create(
        repository=repository,
        environment=production,
        name="prod-discord",
        kind="discord",
        target=f"{receiver.url}/discord",
        events=everything,
    )
    Channel.objects.create(
        repository=repository,
        environment=staging,
        name="staging-hook",
        kind="webhook",
        target=f"{receiver.url}/staging",
        events=everything,
    )

    git_project.commit({".conveyor.yml": DEPLOY_WORKFLOW}, "Release @everyone <b>")
    _, sha = git_project.push()
    [run] = services.create_runs_for_event(repository, event="push", ref="refs/heads/main", sha=sha)
    assert wait_for_run_end(run).status == "success"
    wait_until_sent(4, "deploy started and succeeded, to Slack and Discord")

    # A later deploy the deploy step rolled back, then an incident opened and resolved.
    second = Run.objects.create(
        repository=repository,
        number=2,
        workflow_path=".conveyor.yml",
        workflow_name="Deploy",
        event="push",
        ref="refs/heads/main",
        sha="b" * 40,
        status="failure",
    )
    rolled_back = Deployment.objects.create(
        run=second,
        job_key="deploy",
        environment=production,
        status="failure",
        state="rolled-back",
        release="v3",
        sha=second.sha,
        reason="the health check failed: HTTP 500",
    )
    signals.tell(signals.deployment_changed, deployment=rolled_back)
    resolve(open_incident(production, rolled_back))
    wait_until_sent(10, "rollback and incidents")

    by_path: dict[str, list[Any]] = {}
    for request in receiver.received():
        by_path.setdefault(request.path, []).append(request.json())
    assert set(by_path) == {"/slack", "/discord"}  # staging hears nothing of production

    slack = by_path["/slack"]
    assert [body["text"].split(":")[1].strip() for body in slack] == [
        "started deploying to production",
        "deployed to production",
        "deploy v3 to production rolled back",
        "production is down",
        "production is up again",
    ]
    first = slack[0]
    assert set(first) == {"text", "blocks"}
    section, context = first["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith("*<http://")
    assert (
        "/repos/shop/environments/production/|shop: started deploying to production>*"
        in (section["text"]["text"])
    )
    # Slack's control characters in a commit message are escaped.
    assert "Release @everyone &lt;b&gt;" in context["elements"][0]["text"]
    assert "<b>" not in context["elements"][0]["text"]

    discord = by_path["/discord"]
    assert len(discord) == 5
    rollback = discord[2]
    assert set(rollback) == {"content", "embeds", "allowed_mentions"}
    assert rollback["content"] == "shop: deploy v3 to production rolled back"
    assert rollback["allowed_mentions"] == {"parse": []}
    [embed] = rollback["embeds"]
    assert embed["title"] == "shop: deploy v3 to production rolled back"
    assert embed["description"] == (
        f"Commit {'b' * 7} from run #2: the health check failed: HTTP 500."
    )
    assert embed["color"] == 0xCF222E
    assert embed["url"].endswith("/repos/shop/environments/production/")
    assert {"name": "Environment", "value": "production", "inline": True} in embed["fields"]
    resolved = discord[4]["embeds"][0]
    assert resolved["description"] == "https://shop.example/health answers again after 75 s down."
    assert resolved["color"] == 0x1A7F37

    # Every event once per channel, however often it was heard.
    signals.tell(signals.deployment_changed, deployment=rolled_back)
    assert Outbound.objects.count() == 10


def test_a_failing_receiver_is_retried_with_backoff_and_the_page_shows_the_attempts(
    repository, cast, settings
):
    settings.CONVEYOR_NOTIFY_RETRY_SECONDS = 10
    failing = Receiver(answers=[500, 503])
    try:
        production = Environment.objects.create(repository=repository, name="production")
        hook = Channel(
            repository=repository,
            name="pager",
            kind="webhook",
            target=f"{failing.url}/page",
            events=INCIDENT_EVENTS,
        )
        hook.set_secret("pager-secret")
        hook.save()
        open_incident(production)
        [row] = Outbound.objects.all()
        start = row.next_attempt_at

        deliver_due(now=start)
        row.refresh_from_db()
        port = failing.server.server_address[1]
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.last_error == f"127.0.0.1:{port} answered HTTP 500: receiver is down"
        assert row.next_attempt_at - row.last_attempt_at == timedelta(seconds=10)

        page = cast["member"].get("/repos/shop/settings/notifications/").content.decode()
        assert f'<tr data-delivery="{row.pk}">' in page
        assert '<td class="delivery-attempts">1</td>' in page
        assert f"127.0.0.1:{port} answered HTTP 500: receiver is down" in page
        assert row.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") in page

        deliver_due(now=start + timedelta(seconds=9))  # not due yet
        assert len(failing.received()) == 1
        deliver_due(now=start + timedelta(seconds=10))
        row.refresh_from_db()
        assert (row.status, row.attempts) == ("pending", 2)
        assert "HTTP 503" in row.last_error
        assert row.next_attempt_at - row.last_attempt_at == timedelta(seconds=20)

        deliver_due(now=start + timedelta(seconds=30))
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")
        requests = failing.received()
    finally:
        failing.close()
    assert len(requests) == 3
    # The same delivery each time: same body, same id, so a receiver can de-duplicate.
    assert len({request.body for request in requests}) == 1
    assert len({request.headers["X-Conveyor-Delivery"] for request in requests}) == 1
    page = cast["member"].get("/repos/shop/settings/notifications/").content.decode()
    assert '<td class="delivery-status">sent</td>' in page
    assert '<td class="delivery-attempts">3</td>' in page


def test_a_delivery_is_given_up_after_the_last_attempt(repository, settings):
    settings.CONVEYOR_NOTIFY_ATTEMPTS = 2
    down = Receiver(answers=[500, 500, 500])
    try:
        production = Environment.objects.create(repository=repository, name="production")
        Channel.objects.create(
            repository=repository,
            name="chat",
            kind="discord",
            target=down.url,
            events=["incident.opened"],
        )
        open_incident(production)
        start = Outbound.objects.get().next_attempt_at
        deliver_due(now=start)
        deliver_due(now=start + timedelta(hours=1))
        deliver_due(now=start + timedelta(hours=2))
    finally:
        down.close()
    row = Outbound.objects.get()
    assert (row.status, row.attempts) == ("failed", 2)
    assert len(down.received()) == 2


def test_an_unreachable_receiver_never_fails_the_run(repository, git_project, workers, deliveries):
    from tests.server.conftest import free_port

    Channel.objects.create(
        repository=repository,
        name="nowhere",
        kind="webhook",
        target=f"http://127.0.0.1:{free_port()}/hook",
        events=["run.failed"],
    )
    git_project.commit({".conveyor.yml": "on: push\nsteps:\n  - run: exit 1\n"}, "Broken")
    _, sha = git_project.push()
    [run] = services.create_runs_for_event(repository, event="push", ref="refs/heads/main", sha=sha)
    assert wait_for_run_end(run).status == "failure"

    def tried() -> Any:
        row = Outbound.objects.first()
        return row if row is not None and row.attempts else None

    from tests.server.conftest import wait_for

    row = wait_for(tried, 20, "the first attempt")
    assert row.status == "pending"
    assert row.last_error.startswith("cannot reach 127.0.0.1:")


def test_deliveries_that_ended_long_ago_are_pruned(repository):
    from conveyor.server.notifications.delivery import KEEP_DAYS, prune

    now = timezone.now()
    for number, status in enumerate(["sent", "failed", "pending", "sent"]):
        Outbound.objects.create(
            key=f"k{number}",
            kind="notification",
            repository=repository,
            event="run.failed",
            status=status,
            next_attempt_at=now,
        )
    old = now - timedelta(days=KEEP_DAYS + 1)
    Outbound.objects.filter(key__in=["k0", "k1", "k2"]).update(created_at=old)
    assert prune(now) == 2
    # A pending one is never dropped, however old; a recent one is kept.
    assert sorted(Outbound.objects.values_list("key", flat=True)) == ["k2", "k3"]
