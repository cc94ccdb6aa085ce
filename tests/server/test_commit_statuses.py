"""Commit statuses of real runs posted to a fake forge on 127.0.0.1 that accepts only
what GitHub, GitLab and Gitea document: the method, the path, the auth header and the
JSON body (anything else answers 4xx and the delivery would not be sent)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conveyor.server.notifications.forge_statuses import guess
from conveyor.server.notifications.models import ForgeStatus, Outbound
from conveyor.server.repos.models import Delivery, Repository
from conveyor.server.runs import services
from conveyor.server.runs.models import Run
from tests.server import notify_support as support
from tests.server.conftest import GitProject, wait_for_run_end
from tests.server.notify_support import Received, Receiver, wait_until_sent

deliveries = support.deliveries

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "forge-token-0123456789"
WORKFLOW = """\
name: CI
on: push
steps:
  - name: Test
    run: test -f fixed.txt
"""

# Per forge: the project setting, the path it posts to (before the sha), the auth
# header, the field naming the status, and its words for each state in order.
FORGES: dict[str, dict[str, Any]] = {
    "github": {
        "project": "acme/shop",
        "path": "/repos/acme/shop/statuses/",
        "auth": ("Authorization", f"Bearer {TOKEN}"),
        "label": "context",
        "states": {"created": "pending", "started": "pending", "failure": "failure"},
        "success": "success",
    },
    "gitlab": {
        "project": "acme/tools/shop",
        "path": "/projects/acme%2Ftools%2Fshop/statuses/",
        "auth": ("Private-Token", TOKEN),
        "label": "name",
        "states": {"created": "pending", "started": "running", "failure": "failed"},
        "success": "success",
    },
    "gitea": {
        "project": "acme/shop",
        "path": "/repos/acme/shop/statuses/",
        "auth": ("Authorization", f"token {TOKEN}"),
        "label": "context",
        "states": {"created": "pending", "started": "pending", "failure": "failure"},
        "success": "success",
    },
}
ALLOWED_STATES = {
    "github": {"pending", "success", "failure", "error"},
    "gitlab": {"pending", "running", "success", "failed", "canceled", "skipped"},
    "gitea": {"pending", "success", "failure", "error", "warning"},
}


def forge_checker(forge: str) -> Any:
    """The fake forge's own checks, as its documentation states them."""
    spec = FORGES[forge]

    def check(request: Received) -> tuple[int, bytes]:
        if request.method != "POST" or not request.path.startswith("/api" + spec["path"]):
            return 404, b'{"message": "Not Found"}'
        header, value = spec["auth"]
        if request.headers.get(header) != value:
            return 401, b'{"message": "Bad credentials"}'
        if request.headers.get("Content-Type") != "application/json":
            return 415, b'{"message": "JSON expected"}'
        body = json.loads(request.body)
        if body.get("state") not in ALLOWED_STATES[forge]:
            return 422, b'{"message": "state is invalid"}'
        if len(body.get("description", "")) > 140:
            return 422, b'{"message": "description is too long"}'
        return 201, json.dumps({"id": 1, "state": body["state"]}).encode()

    return check


def push_and_run(repository: Repository, project: GitProject) -> Run:
    before, after = project.push()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before
    )
    return wait_for_run_end(run)


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_a_runs_statuses_reach_the_forge_as_it_documents_them(
    forge, repository, git_project, workers, deliveries
):
    spec = FORGES[forge]
    fake = Receiver(check=forge_checker(forge))
    try:
        setting = ForgeStatus(
            repository=repository, forge=forge, api_url=f"{fake.url}/api", project=spec["project"]
        )
        setting.set(TOKEN)
        setting.save()
        git_project.commit({".conveyor.yml": WORKFLOW}, "Add CI")
        failed = push_and_run(repository, git_project)
        git_project.commit({"fixed.txt": "yes\n"}, "Fix")
        fixed = push_and_run(repository, git_project)
        wait_until_sent(6, "three statuses for each of the two runs")
        requests = fake.received()
    finally:
        fake.close()

    assert [row.status for row in Outbound.objects.order_by("pk")] == ["sent"] * 6
    expected_states = [
        spec["states"]["created"],
        spec["states"]["started"],
        spec["states"]["failure"],
        spec["states"]["created"],
        spec["states"]["started"],
        spec["success"],
    ]
    assert [request.json()["state"] for request in requests] == expected_states
    for request, run in zip(requests, [failed] * 3 + [fixed] * 3, strict=True):
        assert request.path == f"/api{spec['path']}{run.sha}"
        body = request.json()
        expected_keys = {"state", "target_url", "description", spec["label"]}
        if forge == "gitlab":
            expected_keys.add("ref")
            assert body["ref"] == "main"
        assert set(body) == expected_keys
        assert body[spec["label"]] == "conveyor/CI"
        assert body["target_url"].endswith(f"/repos/shop/runs/{run.number}/")
    descriptions = [request.json()["description"] for request in requests]
    assert descriptions[:2] == ["Queued", "Running"]
    assert descriptions[2].startswith("Failed")
    assert descriptions[5].startswith("Succeeded in ")
    # The token goes only in the header, never into a body or a stored row.
    assert not any(TOKEN.encode() in request.body for request in requests)
    assert TOKEN not in json.dumps(list(Outbound.objects.values("message", "last_error")))
    assert TOKEN not in ForgeStatus.objects.get().value_encrypted


def test_a_wrong_token_is_retried_with_the_forges_answer_shown(repository, git_project):
    from conveyor.server.notifications.delivery import deliver_due

    fake = Receiver(check=forge_checker("github"))
    try:
        setting = ForgeStatus(
            repository=repository, forge="github", api_url=f"{fake.url}/api", project="acme/shop"
        )
        setting.set("not-the-token")
        setting.save()
        git_project.commit({".conveyor.yml": WORKFLOW}, "Add CI")
        _, sha = git_project.push()
        services.create_runs_for_event(repository, event="push", ref="refs/heads/main", sha=sha)
        deliver_due()
    finally:
        fake.close()
    [row] = Outbound.objects.all()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == f"127.0.0.1:{fake.server.server_address[1]} answered HTTP 401: " + (
        '{"message": "Bad credentials"}'
    )
    assert "not-the-token" not in row.last_error


@pytest.mark.parametrize(
    ("url", "provider", "expected"),
    [
        (
            "https://github.com/acme/shop.git",
            None,
            ("github", "https://api.github.com", "acme/shop"),
        ),
        ("git@github.com:acme/shop.git", None, ("github", "https://api.github.com", "acme/shop")),
        (
            "https://gitlab.com/acme/tools/shop.git",
            None,
            ("gitlab", "https://gitlab.com/api/v4", "acme/tools/shop"),
        ),
        (
            "https://codeberg.org/acme/shop.git",
            None,
            ("gitea", "https://codeberg.org/api/v1", "acme/shop"),
        ),
        (
            "https://git.acme.test/acme/shop.git",
            "gitea",
            ("gitea", "https://git.acme.test/api/v1", "acme/shop"),
        ),
        (
            "ssh://git@ghe.acme.test/acme/shop.git",
            "github",
            ("github", "https://ghe.acme.test/api/v3", "acme/shop"),
        ),
        ("https://git.acme.test/acme/shop.git", None, None),
    ],
)
def test_the_forge_is_guessed_from_the_url_and_the_webhooks_it_sent(url, provider, expected, db):
    repository = Repository.objects.create(name="shop", url=url)
    if provider:
        Delivery.objects.create(
            repository=repository, provider=provider, delivery_id="1", event="push"
        )
    found = guess(repository)
    assert ((found["forge"], found["api_url"], found["project"]) if found else None) == expected
