"""Notifications of real runs: a pushed commit whose test fails, then the fix, told to a
real SMTP server and a signed JSON webhook receiver, each once, without secrets."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor.server.notifications.models import Channel, Outbound
from conveyor.server.repos.forges.generic import webhook as generic
from conveyor.server.repos.models import Secret
from conveyor.server.runs import services
from conveyor.server.runs.models import Run
from tests.server import notify_support as support
from tests.server.conftest import GitProject, wait_for_run_end
from tests.server.notify_support import Mailbox, Receiver, wait_until_sent

mailbox = support.mailbox
receiver = support.receiver
deliveries = support.deliveries

pytestmark = pytest.mark.django_db(transaction=True)

THE_SECRET = "hunter2-very-secret-value"

WORKFLOW = """\
name: CI
on: push
steps:
  - name: Test
    run: |
      echo "token is $TOKEN"
      test -f fixed.txt
    env:
      TOKEN: ${{ secrets.TOKEN }}
"""


def push_and_run(repository: Any, project: GitProject) -> Run:
    before, after = project.push()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before
    )
    return wait_for_run_end(run)


def test_a_failed_run_then_its_fix_are_told_once_by_email_and_signed_webhook(
    repository, git_project, workers, deliveries, mailbox: Mailbox, receiver: Receiver
):
    secret = Secret(repository=repository, name="TOKEN")
    secret.set(THE_SECRET)
    secret.save()
    events = ["run.failed", "run.fixed"]
    Channel.objects.create(
        repository=repository,
        name="team",
        kind="email",
        target="dev@example.com, ops@example.com",
        events=events,
    )
    hook = Channel(
        repository=repository,
        name="bot",
        kind="webhook",
        target=f"{receiver.url}/in",
        events=events,
    )
    hook.set_secret("channel-signing-secret")
    hook.save()

    git_project.commit({".conveyor.yml": WORKFLOW}, "Add CI")
    failed = push_and_run(repository, git_project)
    assert failed.status == "failure"
    wait_until_sent(2, "the failure's e-mail and webhook")

    git_project.commit({"fixed.txt": "yes\n"}, "Fix the test")
    fixed = push_and_run(repository, git_project)
    assert fixed.status == "success"
    wait_until_sent(4, "the fix's e-mail and webhook")

    # A second success is no news.
    git_project.commit({"more.txt": "more\n"}, "More")
    again = push_and_run(repository, git_project)
    assert again.status == "success"

    assert mailbox.subjects() == [
        "[Conveyor] shop: CI #1 on main failed",
        "[Conveyor] shop: CI #2 on main is fixed",
    ]
    assert mailbox.recipients == [["dev@example.com", "ops@example.com"]] * 2
    first = mailbox.messages[0]
    text = first.get_payload(decode=True).decode()
    assert "http://" in text and "/repos/shop/runs/1/" in text
    assert "Commit: " + failed.sha[:7] + " Add CI" in text
    assert first["From"] == "conveyor@ci.example"

    requests = receiver.received()
    assert [request.headers["X-Conveyor-Event"] for request in requests] == events
    for request in requests:
        assert request.path == "/in"
        # Checked the way Conveyor checks its own incoming webhooks.
        generic.verify(request.headers, request.body, "channel-signing-secret")
    body = requests[0].json()
    assert body["event"] == "run.failed"
    assert body["repository"] == "shop"
    assert body["run"]["number"] == 1
    assert body["run"]["status"] == "failure"
    assert body["run"]["branch"] == "main"
    assert body["run"]["sha"] == failed.sha
    assert body["url"].endswith("/repos/shop/runs/1/")
    assert requests[1].json()["run"]["number"] == 2
    assert len({request.headers["X-Conveyor-Delivery"] for request in requests}) == 2

    # Logs are never sent, and the secret the failing step printed is nowhere.
    everything = b"".join(request.body for request in requests) + b"".join(
        message.as_bytes() for message in mailbox.messages
    )
    assert b"token is" not in everything
    assert THE_SECRET.encode() not in everything

    # Hearing the end of a run again (a recovery, a second server) queues nothing new.
    from conveyor.server.runs import signals

    signals.tell(signals.run_finished, run=Run.objects.get(pk=failed.pk))
    assert Outbound.objects.count() == 4
    assert set(Outbound.objects.values_list("status", flat=True)) == {"sent"}
    assert len(mailbox.messages) == 2 and len(receiver.received()) == 2
