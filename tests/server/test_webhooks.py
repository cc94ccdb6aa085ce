"""Forge webhooks through Django's full request stack: real SQLite, a real bare repository.

The deliveries are built from the fixtures in ``repos/forges/<forge>/fixtures`` (written
from the providers' documented field lists) with the test repository's real commits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from conveyor.server.repos.models import Delivery
from conveyor.server.runs.models import Run
from tests.server.conftest import git

pytestmark = pytest.mark.django_db

FORGES = Path(__file__).resolve().parents[2] / "src/conveyor/server/repos/forges"
PUSH_WORKFLOW = """\
on:
  push:
    branches: [main, develop]
    tags: ["v*"]
  pull_request:
steps:
  - run: echo built
"""


def fixture(forge: str, name: str, **changes: Any) -> dict[str, Any]:
    data = json.loads((FORGES / forge / "fixtures" / f"{name}.json").read_text())
    data.update(changes)
    return data


def hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client: Any, path: str, body: bytes | dict[str, Any], **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, data=raw, content_type="application/json", headers=headers)


def github_headers(secret: str, body: bytes, event: str, delivery: str) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + hex_hmac(secret, body),
    }


@pytest.fixture
def pushed(git_project: Any) -> tuple[str, str]:
    """Two commits on main in the bare repository: (before, after)."""
    first = git_project.commit({".conveyor.yml": PUSH_WORKFLOW}, "First")
    git_project.push()
    second = git_project.commit({"README.md": "hello\n"}, "Update README")
    git_project.push()
    return first, second


def github_push(repository: Any, client: Any, before: str, after: str, delivery: str) -> Any:
    body = json.dumps(fixture("github", "push", before=before, after=after)).encode()
    headers = github_headers(repository.webhook_secret, body, "push", delivery)
    return post(client, "/hooks/github/shop", body, **headers)


def test_github_push_signed_creates_one_run(client, repository, pushed):
    before, after = pushed
    response = github_push(repository, client, before, after, "d-1")
    assert response.status_code == 200, response.content
    [run] = Run.objects.all()
    assert (run.event, run.ref) == ("push", "refs/heads/main")
    assert (run.sha, run.before_sha) == (after, before)
    assert run.actor == "mona"
    assert run.commit_message == "Update README"
    assert run.payload["head_commit"]["modified"] == ["README.md"]
    assert response.json()["runs"][0]["number"] == run.number
    assert Delivery.objects.get().delivery_id == "d-1"


def test_github_replayed_delivery_runs_once(client, repository, pushed):
    before, after = pushed
    assert github_push(repository, client, before, after, "d-1").status_code == 200
    again = github_push(repository, client, before, after, "d-1")
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert Run.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_github_mis_signed_records_and_queues_nothing(client, repository, pushed):
    before, after = pushed
    body = json.dumps(fixture("github", "push", before=before, after=after)).encode()
    headers = github_headers("not-the-secret", body, "push", "d-2")
    response = post(client, "/hooks/github/shop", body, **headers)
    assert response.status_code == 403
    assert "X-Hub-Signature-256" in response.json()["error"]
    # Signed with the right secret, but the body was changed on the way.
    headers = github_headers(repository.webhook_secret, body, "push", "d-3")
    response = post(client, "/hooks/github/shop", body.replace(b"main", b"prod"), **headers)
    assert response.status_code == 403
    assert Run.objects.count() == 0 and Delivery.objects.count() == 0


def test_github_unsigned_is_refused(client, repository, pushed):
    before, after = pushed
    body = json.dumps(fixture("github", "push", before=before, after=after)).encode()
    response = post(client, "/hooks/github/shop", body, **{"X-GitHub-Event": "push"})
    assert response.status_code == 401
    assert "missing X-Hub-Signature-256" in response.json()["error"]
    assert Run.objects.count() == 0 and Delivery.objects.count() == 0


def test_github_ping_answers_pong(client, repository):
    body = json.dumps(fixture("github", "ping")).encode()
    headers = github_headers(repository.webhook_secret, body, "ping", "p-1")
    response = post(client, "/hooks/github/shop", body, **headers)
    assert (response.status_code, response.content) == (200, b"pong")


def test_github_unknown_event_is_ignored(client, repository):
    body = json.dumps({"action": "opened", "issue": {"number": 1}}).encode()
    headers = github_headers(repository.webhook_secret, body, "issues", "i-1")
    response = post(client, "/hooks/github/shop", body, **headers)
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert Run.objects.count() == 0 and Delivery.objects.count() == 0


def test_malformed_json_gets_a_clear_400(client, repository):
    body = b'{"ref": "refs/heads/main",'
    headers = github_headers(repository.webhook_secret, body, "push", "m-1")
    response = post(client, "/hooks/github/shop", body, **headers)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    body = json.dumps({"after": "abc"}).encode()
    headers = github_headers(repository.webhook_secret, body, "push", "m-2")
    response = post(client, "/hooks/github/shop", body, **headers)
    assert response.status_code == 400
    assert "'ref'" in response.json()["error"]
    assert Run.objects.count() == 0 and Delivery.objects.count() == 0


def test_github_pull_request_runs_the_head_commit(client, repository, git_project, pushed):
    before, _ = pushed
    head = git_project.commit({"checkout.py": "pay()\n"}, "Checkout page")
    git_project.push("checkout")
    data = fixture("github", "pull_request")
    data["pull_request"]["head"]["sha"] = head
    data["pull_request"]["base"]["sha"] = before
    body = json.dumps(data).encode()
    headers = github_headers(repository.webhook_secret, body, "pull_request", "pr-1")
    response = post(client, "/hooks/github/shop", body, **headers)
    assert response.status_code == 200, response.content
    [run] = Run.objects.filter(event="pull_request")
    assert (run.ref, run.sha, run.payload["action"]) == ("refs/pull/7/merge", head, "opened")


def test_pull_request_action_outside_types_starts_nothing(client, repository, pushed):
    _, after = pushed
    data = fixture("github", "pull_request", action="closed")
    data["pull_request"]["head"]["sha"] = after
    body = json.dumps(data).encode()
    headers = github_headers(repository.webhook_secret, body, "pull_request", "pr-2")
    response = post(client, "/hooks/github/shop", body, **headers)
    assert response.status_code == 200
    assert Run.objects.count() == 0


def test_a_branch_deletion_starts_nothing(client, repository, pushed):
    before, _ = pushed
    data = fixture("github", "push", before=before, after="0" * 40, deleted=True)
    body = json.dumps(data).encode()
    headers = github_headers(repository.webhook_secret, body, "push", "del-1")
    response = post(client, "/hooks/github/shop", body, **headers)
    assert response.status_code == 202
    assert Run.objects.count() == 0


def test_branch_excluded_by_on_push_branches_starts_nothing(client, repository, git_project):
    git_project.commit({".conveyor.yml": PUSH_WORKFLOW})
    _, after = git_project.push("feature")
    data = fixture("github", "push", ref="refs/heads/feature", before="0" * 40, after=after)
    body = json.dumps(data).encode()
    headers = github_headers(repository.webhook_secret, body, "push", "f-1")
    response = post(client, "/hooks/github/shop", body, **headers)
    assert response.status_code == 200
    assert response.json()["runs"] == []
    assert Run.objects.count() == 0


def test_unknown_commit_gives_502_and_forgets_the_delivery(client, repository, pushed):
    before, _ = pushed
    response = github_push(repository, client, before, "1" * 40, "u-1")
    assert response.status_code == 502
    assert "1111111" in response.json()["error"]
    assert Delivery.objects.count() == 0  # GitHub's retry may succeed later


def test_unknown_repository_is_404(client, db):
    response = post(client, "/hooks/github/nothere", {"zen": "hi"}, **{"X-GitHub-Event": "ping"})
    assert response.status_code == 404
    assert "nothere" in response.json()["error"]


def test_hooks_take_only_post(client, repository):
    assert client.get("/hooks/github/shop").status_code == 405


# GitLab


def gitlab_headers(token: str, event: str, key: str) -> dict[str, str]:
    return {"X-Gitlab-Token": token, "X-Gitlab-Event": event, "Idempotency-Key": key}


def test_gitlab_push_with_token_runs_and_is_deduplicated(client, repository, pushed):
    before, after = pushed
    data = fixture("gitlab", "push", before=before, after=after, checkout_sha=after)
    headers = gitlab_headers(repository.webhook_secret, "Push Hook", "k-1")
    assert post(client, "/hooks/gitlab/shop", data, **headers).status_code == 200
    assert post(client, "/hooks/gitlab/shop", data, **headers).json()["status"] == "duplicate"
    [run] = Run.objects.all()
    assert (run.sha, run.before_sha, run.actor) == (after, before, "jsmith")


def test_gitlab_wrong_or_missing_token_is_refused(client, repository, pushed):
    before, after = pushed
    data = fixture("gitlab", "push", before=before, after=after, checkout_sha=after)
    wrong = post(client, "/hooks/gitlab/shop", data, **gitlab_headers("nope", "Push Hook", "k"))
    assert wrong.status_code == 403
    missing = post(client, "/hooks/gitlab/shop", data, **{"X-Gitlab-Event": "Push Hook"})
    assert missing.status_code == 401
    assert Run.objects.count() == 0 and Delivery.objects.count() == 0


def test_gitlab_event_uuid_is_the_delivery_id_of_older_gitlabs(client, repository, pushed):
    before, after = pushed
    data = fixture("gitlab", "push", before=before, after=after, checkout_sha=after)
    headers = {
        "X-Gitlab-Token": repository.webhook_secret,
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Event-UUID": "uuid-1",
    }
    post(client, "/hooks/gitlab/shop", data, **headers)
    assert Delivery.objects.get().delivery_id == "uuid-1"


def test_gitlab_tag_push_runs_on_the_tag(client, repository, git_project, pushed):
    _, after = pushed
    git("tag", "-a", "v1.0.0", "-m", "release", cwd=git_project.work)
    git("push", "-q", "origin", "v1.0.0", cwd=git_project.work)
    tag_object = git("rev-parse", "v1.0.0", cwd=git_project.work).strip()
    data = fixture("gitlab", "tag_push", after=tag_object, checkout_sha=after)
    headers = gitlab_headers(repository.webhook_secret, "Tag Push Hook", "t-1")
    response = post(client, "/hooks/gitlab/shop", data, **headers)
    assert response.status_code == 200, response.content
    [run] = Run.objects.all()
    assert (run.ref, run.sha) == ("refs/tags/v1.0.0", after)


def test_gitlab_merge_request_becomes_pull_request(client, repository, git_project, pushed):
    head = git_project.commit({"viewport.css": "body {}\n"})
    git_project.push("ms-viewport")
    data = fixture("gitlab", "merge_request")
    data["object_attributes"]["last_commit"]["id"] = head
    headers = gitlab_headers(repository.webhook_secret, "Merge Request Hook", "mr-1")
    response = post(client, "/hooks/gitlab/shop", data, **headers)
    assert response.status_code == 200, response.content
    [run] = Run.objects.all()
    assert run.event == "pull_request"
    assert run.sha == head
    assert run.payload["action"] == "opened"
    assert run.payload["pull_request"]["base"]["ref"] == "main"


# Gitea and Forgejo


def test_gitea_push_signed(client, repository, git_project, pushed):
    before, after = pushed
    git("push", "-q", "origin", "HEAD:refs/heads/develop", cwd=git_project.work)
    body = json.dumps(fixture("gitea", "push", before=before, after=after)).encode()
    headers = {
        "X-Gitea-Event": "push",
        "X-Gitea-Delivery": "g-1",
        "X-Gitea-Signature": hex_hmac(repository.webhook_secret, body),
    }
    response = post(client, "/hooks/gitea/shop", body, **headers)
    assert response.status_code == 200, response.content
    [run] = Run.objects.all()
    assert (run.ref, run.sha, run.actor) == ("refs/heads/develop", after, "gitea")
    headers["X-Gitea-Signature"] = hex_hmac("wrong", body)
    headers["X-Gitea-Delivery"] = "g-2"
    assert post(client, "/hooks/gitea/shop", body, **headers).status_code == 403
    assert Delivery.objects.count() == 1


def test_forgejo_signature_is_checked_first(client, repository, git_project, pushed):
    before, after = pushed
    git("push", "-q", "origin", "HEAD:refs/heads/develop", cwd=git_project.work)
    body = json.dumps(fixture("gitea", "push", before=before, after=after)).encode()
    good = hex_hmac(repository.webhook_secret, body)
    headers = {
        "X-Forgejo-Event": "push",
        "X-Forgejo-Delivery": "fj-1",
        "X-Forgejo-Signature": hex_hmac("wrong", body),
        "X-Gitea-Signature": good,
    }
    assert post(client, "/hooks/gitea/shop", body, **headers).status_code == 403
    headers["X-Forgejo-Signature"] = good
    assert post(client, "/hooks/gitea/shop", body, **headers).status_code == 200
    assert Delivery.objects.get().delivery_id == "fj-1"


def test_gitea_synchronized_is_github_synchronize(client, repository, git_project, pushed):
    head = git_project.commit({"fast.py": "go()\n"})
    git_project.push("fast")
    data = fixture("gitea", "pull_request")
    data["pull_request"]["head"]["sha"] = head
    body = json.dumps(data).encode()
    headers = {
        "X-Gitea-Event": "pull_request",
        "X-Gitea-Delivery": "gpr-1",
        "X-Gitea-Signature": hex_hmac(repository.webhook_secret, body),
    }
    assert post(client, "/hooks/gitea/shop", body, **headers).status_code == 200
    [run] = Run.objects.all()
    assert (run.event, run.payload["action"], run.sha) == ("pull_request", "synchronize", head)


# Generic


def generic_post(client: Any, secret: str, data: dict[str, Any]) -> Any:
    body = json.dumps(data).encode()
    signature = "sha256=" + hex_hmac(secret, body)
    return post(client, "/hooks/generic/shop", body, **{"X-Conveyor-Signature": signature})


def test_generic_push_signed_replayed_and_mis_signed(client, repository, pushed):
    before, after = pushed
    data = fixture("generic", "push", before=before, sha=after)
    assert generic_post(client, repository.webhook_secret, data).status_code == 200
    assert generic_post(client, repository.webhook_secret, data).json()["status"] == "duplicate"
    assert generic_post(client, "wrong", {**data, "delivery": "x"}).status_code == 403
    unsigned = post(client, "/hooks/generic/shop", data)
    assert unsigned.status_code == 401
    [run] = Run.objects.all()
    assert (run.sha, run.before_sha) == (after, before)
    assert Delivery.objects.count() == 1


def test_generic_unknown_event_is_ignored(client, repository, pushed):
    data = {"event": "teleport", "ref": "refs/heads/main", "sha": pushed[1], "delivery": "t"}
    response = generic_post(client, repository.webhook_secret, data)
    assert response.status_code == 202
    assert "teleport" in response.json()["reason"]


def test_one_push_reported_by_two_senders_runs_once(client, repository, pushed):
    before, after = pushed
    assert github_push(repository, client, before, after, "gh-1").status_code == 200
    data = fixture("generic", "push", before=before, sha=after, delivery="other-1")
    response = generic_post(client, repository.webhook_secret, data)
    assert response.status_code == 200
    assert "already seen" in response.json()["messages"][0]
    assert Run.objects.count() == 1


def test_a_deleted_then_recreated_branch_runs_again(client, repository, pushed):
    before, after = pushed
    assert github_push(repository, client, before, after, "c-1").status_code == 200
    data = fixture("github", "push", before=after, after="0" * 40, deleted=True)
    body = json.dumps(data).encode()
    headers = github_headers(repository.webhook_secret, body, "push", "c-2")
    assert post(client, "/hooks/github/shop", body, **headers).status_code == 202
    assert github_push(repository, client, "0" * 40, after, "c-3").status_code == 200
    assert Run.objects.count() == 2
