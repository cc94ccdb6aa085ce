"""Every webhook and the local hook refuse a ref or sha git would not accept: 400 saying
which field and what is wrong, and nothing recorded (no delivery, no run, no known ref).

Real signed deliveries through Django's request stack, on a bare repository with real
commits, so that the good parts of each delivery would start a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conveyor.server.repos.models import Delivery, Repository
from conveyor.server.repos.ref_state import KnownRef
from conveyor.server.runs.models import Run
from tests.server.conftest import new_git_project
from tests.server.test_webhooks import fixture, hex_hmac

pytestmark = pytest.mark.django_db

WORKFLOW = "on: [push, pull_request]\nsteps:\n  - run: echo built\n"
ZERO = "0" * 40
LONG = "a" * 5000

BAD_REFS = [
    "refs/heads/a\nb",
    "refs/heads/a\x00b",
    "refs/heads/a\tb",
    "refs/heads/a..b",
    "refs/heads/a b",
    "refs/heads/" + LONG,
    "refs/heads/a@{1}",
    "refs/heads/main.lock",
    "refs/heads/.hidden",
    "refs/heads/a~1",
    "refs/heads/a^",
    "refs/heads/a:b",
    "refs/heads/a*",
    "refs/heads/a\\b",
    "refs/heads//a",
    "refs/heads/a/",
    "refs/heads/a.",
    "refs/heads/\ud800",
    "HEAD",
    "main",
    "@",
    "",
]
# The same for fields that hold a branch name, plus git's two rules for branches.
BAD_BRANCHES = [bad.removeprefix("refs/heads/") for bad in BAD_REFS if bad not in ("main", "@")]
BAD_BRANCHES += ["-x", "a/.b"]
BAD_SHAS = ["HEAD", "main", "abc1234", "a" * 41, "g" * 40, "A" * 39, LONG, "a" * 39 + "\n"]

Build = Callable[[Any, str, str, Any], tuple[str, bytes, dict[str, str]]]


def signed(path: str, secret: str, data: dict[str, Any], **headers: str) -> Any:
    body = json.dumps(data).encode()
    return (
        path,
        body,
        {name: value.format(hmac=hex_hmac(secret, body)) for name, value in headers.items()},
    )


def github_push(field: str) -> Build:
    def build(repository: Any, before: str, after: str, value: Any) -> Any:
        data = {**fixture("github", "push"), "before": before, "after": after, field: value}
        return signed(
            "/hooks/github/shop",
            repository.webhook_secret,
            data,
            **{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"},
            **{"X-Hub-Signature-256": "sha256={hmac}"},
        )

    return build


def gitea_push(field: str) -> Build:
    def build(repository: Any, before: str, after: str, value: Any) -> Any:
        data = {**fixture("gitea", "push"), "before": before, "after": after, field: value}
        return signed(
            "/hooks/gitea/shop",
            repository.webhook_secret,
            data,
            **{"X-Gitea-Event": "push", "X-Gitea-Delivery": "g-1", "X-Gitea-Signature": "{hmac}"},
        )

    return build


def gitlab_push(field: str) -> Build:
    def build(repository: Any, before: str, after: str, value: Any) -> Any:
        data = {**fixture("gitlab", "push"), "before": before, "after": after}
        data = {**data, "checkout_sha": after, field: value}
        return gitlab_delivery(repository, "Push Hook", data)

    return build


def gitlab_merge_request(*path: str) -> Build:
    def build(repository: Any, before: str, after: str, value: Any) -> Any:
        data = fixture("gitlab", "merge_request")
        attributes = data["object_attributes"]
        attributes["last_commit"]["id"] = after
        place = attributes
        for name in path[:-1]:
            place = place[name]
        place[path[-1]] = value
        return gitlab_delivery(repository, "Merge Request Hook", data)

    return build


def gitlab_delivery(repository: Any, event: str, data: dict[str, Any]) -> Any:
    token = repository.webhook_secret
    headers = {"X-Gitlab-Token": token, "X-Gitlab-Event": event, "Idempotency-Key": "k-1"}
    return "/hooks/gitlab/shop", json.dumps(data).encode(), headers


def github_pull_request(part: str, field: str) -> Build:
    def build(repository: Any, before: str, after: str, value: Any) -> Any:
        data = fixture("github", "pull_request")
        data["pull_request"]["head"]["sha"] = after
        data["pull_request"][part][field] = value
        return signed(
            "/hooks/github/shop",
            repository.webhook_secret,
            data,
            **{"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "pr-1"},
            **{"X-Hub-Signature-256": "sha256={hmac}"},
        )

    return build


def generic(field: str) -> Build:
    def build(repository: Any, before: str, after: str, value: Any) -> Any:
        data = {**fixture("generic", "push"), "before": before, "sha": after, field: value}
        return signed(
            "/hooks/generic/shop",
            repository.webhook_secret,
            data,
            **{"X-Conveyor-Signature": "sha256={hmac}"},
        )

    return build


def local(position: int) -> Build:
    def build(repository: Any, before: str, after: str, value: Any) -> Any:
        parts = [before, after, "refs/heads/main"]
        parts[position] = value
        return signed(
            "/hooks/local/shop",
            repository.webhook_secret,
            {"delivery": "n-1", "lines": [" ".join(parts)]},
            **{"X-Conveyor-Signature": "sha256={hmac}"},
        )

    return build


# (name, how to build the delivery, the words the error names the field with, kind of value)
REF_FIELDS = [
    ("github-push-ref", github_push("ref"), "'ref'", "ref"),
    ("gitea-push-ref", gitea_push("ref"), "'ref'", "ref"),
    ("gitlab-push-ref", gitlab_push("ref"), "'ref'", "ref"),
    ("generic-ref", generic("ref"), "'ref'", "ref"),
    ("local-ref", local(2), "line 1", "ref"),
    ("github-pr-base-ref", github_pull_request("base", "ref"), "pull_request.base.ref", "branch"),
    ("github-pr-head-ref", github_pull_request("head", "ref"), "pull_request.head.ref", "branch"),
    ("gitlab-mr-target", gitlab_merge_request("target_branch"), "target_branch", "branch"),
    ("gitlab-mr-source", gitlab_merge_request("source_branch"), "source_branch", "branch"),
]
SHA_FIELDS = [
    ("github-push-after", github_push("after"), "'after'", "after"),
    ("github-push-before", github_push("before"), "'before'", "before"),
    ("gitea-push-after", gitea_push("after"), "'after'", "after"),
    ("gitea-push-before", gitea_push("before"), "'before'", "before"),
    ("gitlab-push-after", gitlab_push("after"), "'after'", "after"),
    ("gitlab-push-before", gitlab_push("before"), "'before'", "before"),
    ("gitlab-checkout-sha", gitlab_push("checkout_sha"), "checkout_sha", "after"),
    ("generic-sha", generic("sha"), "'sha'", "after"),
    ("generic-before", generic("before"), "'before'", "before"),
    ("local-old", local(0), "line 1", "before"),
    ("local-new", local(1), "line 1", "after"),
    ("github-pr-head-sha", github_pull_request("head", "sha"), "pull_request.head.sha", "after"),
    ("gitlab-mr-commit", gitlab_merge_request("last_commit", "id"), "last_commit.id", "after"),
]
# Zeros mean "no commit" only on a created ref's old side and a deleted ref's new side.
ZERO_REFUSED = [
    entry
    for entry in SHA_FIELDS
    if entry[0] in {"gitlab-checkout-sha", "github-pr-head-sha", "gitlab-mr-commit"}
]


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory: Any) -> tuple[Path, str, str]:
    """One bare repository for the whole module: the refusals never reach git."""
    project = new_git_project(tmp_path_factory.mktemp("refuse"))
    first = project.commit({".conveyor.yml": WORKFLOW}, "First")
    project.push()
    second = project.commit({"README.md": "hello\n"}, "Second")
    project.push()
    for branch in ("checkout", "ms-viewport", "develop"):
        project.push(branch)  # the fixtures' pull request heads and gitea's pushed branch
    return project.bare, first, second


@pytest.fixture
def shop(shared_project: tuple[Path, str, str], data_dir: Path) -> tuple[Any, str, str]:
    bare, first, second = shared_project
    return Repository.objects.create(name="shop", url=str(bare)), first, second


def good_value(kind: str, first: str, second: str) -> str:
    return {"ref": "refs/heads/main", "branch": "main", "before": first, "after": second}[kind]


def refused(client: Any, shop: tuple[Any, str, str], build: Build, bad: Any) -> str:
    path, body, headers = build(*shop, bad)
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 400, response.content[:500]
    error = response.json()["error"]
    assert len(error) < 500  # a 5,000-character value is not echoed whole
    assert Delivery.objects.count() == 0
    assert Run.objects.count() == 0
    assert not KnownRef.objects.exists()
    return error


@pytest.mark.parametrize(
    ("name", "build", "field", "kind"),
    REF_FIELDS + SHA_FIELDS,
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_same_deliveries_with_good_values_run(client, shop, name, build, field, kind):
    """A refusal below is the bad field's doing: with a good value each delivery runs."""
    path, body, headers = build(*shop, good_value(kind, *shop[1:]))
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 200, response.content[:500]
    assert Run.objects.count() == 1


REF_CASES = [
    (*entry, bad)
    for entry in REF_FIELDS
    for bad in (BAD_BRANCHES if entry[3] == "branch" else BAD_REFS)
]


@pytest.mark.parametrize(
    ("name", "build", "field", "kind", "bad"),
    REF_CASES,
    ids=[f"{case[0]}-{case[4]!r:.30}" for case in REF_CASES],
)
def test_a_bad_ref_is_refused_and_nothing_recorded(client, shop, name, build, field, kind, bad):
    error = refused(client, shop, build, bad)
    assert field in error
    if LONG in bad:
        assert "5,0" in error  # its length, said in place of the value


@pytest.mark.parametrize(
    ("name", "build", "field", "kind"), SHA_FIELDS, ids=[e[0] for e in SHA_FIELDS]
)
@pytest.mark.parametrize("bad", BAD_SHAS, ids=lambda value: repr(value)[:30])
def test_a_bad_sha_is_refused_and_nothing_recorded(client, shop, name, build, field, kind, bad):
    error = refused(client, shop, build, bad)
    assert field in error
    if bad == LONG:
        assert "5,000 characters" in error


@pytest.mark.parametrize(
    ("name", "build", "field", "kind"), ZERO_REFUSED, ids=[e[0] for e in ZERO_REFUSED]
)
def test_the_zero_sha_is_refused_where_a_commit_is_needed(client, shop, name, build, field, kind):
    error = refused(client, shop, build, ZERO)
    assert field in error and "all-zero" in error
