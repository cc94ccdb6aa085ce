"""Status badges: public, never cached, the latest run's status per repository/branch/workflow."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Run
from conveyor.server.ui.badges import STATUS_COLOURS

pytestmark = pytest.mark.django_db


def add_run(repository: Repository, number: int, status: str, **fields: Any) -> Run:
    defaults = {
        "workflow_path": ".github/workflows/ci.yml",
        "workflow_name": "CI",
        "event": "push",
        "ref": "refs/heads/main",
    }
    return Run.objects.create(
        repository=repository, number=number, status=status, **{**defaults, **fields}
    )


def badge(client: Client, url: str) -> tuple[int, str, str]:
    """(HTTP status, the run status shown, the colour of the status half)."""
    response = client.get(url)
    assert response["Content-Type"] == "image/svg+xml"
    assert "no-cache" in response["Cache-Control"]
    svg = response.content.decode()
    fill, status = re.search(r'fill="(#[0-9a-f]{6})" data-status="(\w+)"', svg).groups()
    return response.status_code, status, fill


@pytest.fixture
def shop() -> Repository:
    return Repository.objects.create(name="shop", url="/nowhere/shop.git")


def test_a_badge_needs_no_login_and_shows_the_latest_run(shop):
    client = Client()
    assert badge(client, "/badge/shop.svg") == (200, "unknown", STATUS_COLOURS["unknown"])
    add_run(shop, 1, "success")
    assert badge(client, "/badge/shop.svg") == (200, "success", STATUS_COLOURS["success"])
    add_run(shop, 2, "running")
    assert badge(client, "/badge/shop.svg") == (200, "running", STATUS_COLOURS["running"])
    Run.objects.filter(number=2).update(status="failure")
    assert badge(client, "/badge/shop.svg") == (200, "failure", STATUS_COLOURS["failure"])


def test_each_status_has_its_own_colour():
    statuses = ["success", "failure", "running", "queued", "cancelled", "skipped"]
    assert len({STATUS_COLOURS[status] for status in statuses}) == len(statuses)


def test_branch_and_workflow_select_the_runs(shop):
    client = Client()
    add_run(shop, 1, "success")
    add_run(shop, 2, "failure", ref="refs/heads/feature")
    add_run(shop, 3, "cancelled", workflow_path=".github/workflows/docs.yml", workflow_name="Docs")
    assert badge(client, "/badge/shop.svg")[1] == "cancelled"
    assert badge(client, "/badge/shop.svg?branch=feature")[1] == "failure"
    assert badge(client, "/badge/shop.svg?branch=main&workflow=ci.yml")[1] == "success"
    assert badge(client, "/badge/shop.svg?workflow=.github/workflows/ci.yml")[1] == "failure"
    assert badge(client, "/badge/shop.svg?workflow=Docs")[1] == "cancelled"
    assert badge(client, "/badge/shop.svg?branch=nope")[1] == "unknown"


def test_the_label_is_escaped_and_an_unknown_repository_is_404(shop):
    client = Client()
    add_run(shop, 1, "success", workflow_name="<b>&", workflow_path="x.yml")
    svg = client.get("/badge/shop.svg?workflow=<b>%26").content.decode()
    assert "&lt;b&gt;&amp;" in svg and "<b>" not in svg
    assert badge(client, "/badge/nope.svg")[:2] == (404, "unknown")
