"""Which pull requests come from a fork, decided in one place for every forge's
deliveries (``forges.base.from_fork``), on the forges' documented payloads."""

from __future__ import annotations

import copy
import json
from typing import Any

from conveyor.server.repos.forges import gitea, github, gitlab
from tests.server.test_fork_support import FIXTURES


def _fixture(forge: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / forge / "fixtures" / f"{name}.json").read_text())


def _github(data: dict[str, Any]) -> bool:
    headers = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d"}
    return github.parse(headers, json.dumps(data).encode()).from_fork


def _gitea(data: dict[str, Any]) -> bool:
    headers = {"X-Gitea-Event": "pull_request", "X-Gitea-Delivery": "d"}
    return gitea.parse(headers, json.dumps(data).encode()).from_fork


def _gitlab(data: dict[str, Any]) -> bool:
    headers = {"X-Gitlab-Event": "Merge Request Hook", "Idempotency-Key": "d"}
    return gitlab.parse(headers, json.dumps(data).encode()).from_fork


def test_github_pull_requests_from_forks_are_told_apart():
    same = _fixture("github", "pull_request")
    assert _github(same) is False
    other_owner = copy.deepcopy(same)
    other_owner["pull_request"]["head"]["repo"]["full_name"] = "mallory/shop"
    assert _github(other_owner) is True
    flagged = copy.deepcopy(same)
    del flagged["pull_request"]["head"]["repo"]["full_name"]
    flagged["pull_request"]["head"]["repo"]["fork"] = True
    assert _github(flagged) is True
    # The fork was deleted since: GitHub sends no head repository. No secrets then.
    deleted = copy.deepcopy(same)
    deleted["pull_request"]["head"]["repo"] = None
    assert _github(deleted) is True
    # Two branches of one repository that is itself a fork: not a fork's pull request.
    inside = copy.deepcopy(same)
    for side in ("head", "base"):
        inside["pull_request"][side]["repo"].update(id=42, fork=True)
    assert _github(inside) is False


def test_gitea_compares_the_head_and_base_repository_ids():
    same = _fixture("gitea", "pull_request")
    assert _gitea(same) is False
    fork = copy.deepcopy(same)
    fork["pull_request"]["head"]["repo_id"] = 141
    assert _gitea(fork) is True


def test_gitlab_compares_the_source_and_target_projects():
    same = _fixture("gitlab", "merge_request")
    assert _gitlab(same) is False
    fork = copy.deepcopy(same)
    fork["object_attributes"]["source_project_id"] = 99
    assert _gitlab(fork) is True


def test_pushes_and_pull_request_target_are_never_a_forks_code():
    from conveyor.server.repos.forges.base import from_fork

    payload = _fixture("github", "pull_request")
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/shop"
    assert from_fork("pull_request", payload) is True
    assert from_fork("pull_request_target", payload) is False
    assert from_fork("push", _fixture("github", "push")) is False


def test_a_pull_request_whose_head_cannot_be_told_apart_counts_as_a_forks():
    data = _fixture("github", "pull_request")
    for side in ("head", "base"):
        data["pull_request"][side].pop("repo", None)
    data.pop("repository", None)
    assert _github(data)
