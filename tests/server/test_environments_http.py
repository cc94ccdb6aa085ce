"""An approval holding a deploy until given, over real HTTP: ``conveyor server`` as a
subprocess, the environment, its secret and the approval set through the API as
docs/api.md tells a user to."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import GitProject, start_server, wait_for
from tests.server.test_api_http import admin_with_repository, call

pytestmark = pytest.mark.slow

WORKFLOW = """\
on: workflow_dispatch
jobs:
  deploy:
    runs-on: local
    environment:
      name: production
      url: https://shop.example/
    steps:
      - run: test "$KEY" = "the-production-key" && echo "deployed with the key"
        env:
          KEY: ${{ secrets.DEPLOY_KEY }}
"""


def test_a_deploy_waits_for_approval_given_over_http(
    tmp_path: Path, git_project: GitProject
) -> None:
    git_project.commit({".conveyor.yml": WORKFLOW}, "Add deploy")
    git_project.push()
    data = tmp_path / "server-data"
    data.mkdir()
    server = start_server(data, workers=1)
    try:
        api, auth = admin_with_repository(server.url, git_project.bare)
        environment = f"{api}/repositories/shop/environments/production"
        status, rules = call(
            environment, "PUT", {"required_approval": True, "allowed_branches": ["main"]}, **auth
        )
        assert (status, rules["allowed_branches"]) == (201, ["main"])
        status, _ = call(
            f"{environment}/secrets/DEPLOY_KEY", "PUT", {"value": "the-production-key"}, **auth
        )
        assert status == 201
        status, triggered = call(
            f"{api}/repositories/shop/runs", "POST", {"workflow": ".conveyor.yml"}, **auth
        )
        assert status == 201, triggered
        number = triggered["runs"][0]["number"]
        run_url = f"{api}/repositories/shop/runs/{number}"

        def waiting_job() -> Any:
            _, run = call(run_url, **auth)
            jobs = [job for job in run["jobs"] if job["status"] == "waiting"]
            return jobs[0] if jobs else None

        job = wait_for(waiting_job, 30, "the deploy job to wait")
        assert "approve the deployment to 'production'" in job["reason"]
        time.sleep(1.5)  # nobody approved: it still waits, no step ran
        _, run = call(run_url, **auth)
        assert (run["status"], run["jobs"][0]["status"]) == ("running", "waiting")
        _, history = call(f"{environment}/deployments", **auth)
        [deployment] = history
        assert deployment["status"] == "waiting"
        status, approved = call(
            f"{environment}/deployments/{deployment['id']}/approve", "POST", {}, **auth
        )
        assert (status, approved["approved_by"]) == (200, "admin")

        def finished() -> Any:
            _, run = call(run_url, **auth)
            return run if run["status"] not in ("queued", "running") else None

        run = wait_for(finished, 30, "the run to finish")
        assert run["status"] == "success", run
        _, history = call(f"{environment}/deployments", **auth)
        [deployment] = history
        assert (deployment["status"], deployment["approved_by"]) == ("success", "admin")
        assert deployment["url"] == "https://shop.example/"
        assert deployment["duration_seconds"] is not None
    finally:
        server.process.terminate()
        server.process.wait(timeout=15)
