"""``conveyor server`` as a real subprocess: channels and the commit status setting made
through the API as docs/notifications.md shows, a dispatched run that fails, and its
notification and statuses delivered by the server's own delivery thread."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conveyor.server.repos.forges.generic import webhook as generic
from tests.server.conftest import GitProject, start_server, wait_for
from tests.server.notify_support import Receiver
from tests.server.test_api_http import admin_with_repository, call

pytestmark = pytest.mark.slow

WORKFLOW = """\
name: CI
on: workflow_dispatch
steps:
  - name: Test
    run: exit 1
"""


def test_the_server_delivers_a_failed_runs_notification_and_statuses(
    tmp_path: Path, git_project: GitProject
) -> None:
    git_project.commit({".conveyor.yml": WORKFLOW}, "Add CI")
    git_project.push()
    data = tmp_path / "server-data"
    data.mkdir()
    hooks = Receiver()
    server = start_server(data, workers=1)
    try:
        api, auth = admin_with_repository(server.url, git_project.bare)
        status, channel = call(
            f"{api}/repositories/shop/notifications/channels/team-hook",
            "PUT",
            {
                "kind": "webhook",
                "target": f"{hooks.url}/conveyor",
                "events": ["run.failed"],
                "secret": "shared-secret",
            },
            **auth,
        )
        assert (status, channel["has_secret"]) == (201, True), channel
        status, setting = call(
            f"{api}/repositories/shop/commit-status",
            "PUT",
            {
                "forge": "github",
                "api_url": f"{hooks.url}/github",
                "project": "acme/shop",
                "token": "gh-token",
            },
            **auth,
        )
        assert status == 201, setting
        status, triggered = call(
            f"{api}/repositories/shop/runs", "POST", {"workflow": ".conveyor.yml"}, **auth
        )
        assert status == 201, triggered

        def all_sent() -> Any:
            _, rows = call(f"{api}/repositories/shop/notifications/deliveries", **auth)
            done = len(rows) == 4 and all(row["status"] == "sent" for row in rows)
            return rows if done else None

        rows = wait_for(all_sent, 30, "the notification and three statuses")
        requests = hooks.received()
    finally:
        server.process.terminate()
        server.process.wait(timeout=15)
        hooks.close()
    assert sorted(row["event"] for row in rows) == ["created", "failure", "run.failed", "started"]
    [notification] = [request for request in requests if request.path == "/conveyor"]
    generic.verify(notification.headers, notification.body, "shared-secret")
    assert notification.json()["run"]["status"] == "failure"
    statuses = [request for request in requests if request.path.startswith("/github")]
    sha = notification.json()["run"]["sha"]
    assert [request.path for request in statuses] == [f"/github/repos/acme/shop/statuses/{sha}"] * 3
    assert [json.loads(request.body)["state"] for request in statuses] == [
        "pending",
        "pending",
        "failure",
    ]
    assert {request.headers["Authorization"] for request in statuses} == {"Bearer gh-token"}
