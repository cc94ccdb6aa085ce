"""The API end to end: a real bare repository and commit, runs triggered through the
API and run by the embedded workers, read back through the API; and no response
ever carries a secret's value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conveyor.server.repos.models import Secret
from conveyor.server.runs.models import LogChunk, Run
from tests.server.conftest import GitProject, wait_for_run_end
from tests.server.test_api_helpers import Api, cast

# Also run on PostgreSQL by scripts/test (why: see there).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

SECRET_VALUE = "pa55-Wörd-7f3c9e1d"

DEPLOY_WORKFLOW = """\
name: Deploy
on:
  push:
    branches: [main]
  workflow_dispatch:
    inputs:
      target:
        description: Where to deploy
        required: true
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - name: Build
        run: |
          echo "Building for ${{ inputs.target || 'push' }}"
          echo "event inputs: ${{ join(github.event.inputs.*, ',') }}"
      - name: Deploy
        env:
          KEY: ${{ secrets.DEPLOY_KEY }}
        run: |
          echo "using key $KEY"
          echo "::error file=deploy.sh,line=4::key $KEY rejected"
          for i in 1 2 3 4 5; do echo "deploy line $i"; done
          echo "### Deployed with $KEY" >> "$GITHUB_STEP_SUMMARY"
"""


@pytest.fixture
def people() -> dict[str, Any]:
    return cast()


def trigger(api: Api, **body: Any) -> Any:
    return api.post("repositories/shop/runs", body)


def test_dispatch_with_an_input_runs_and_is_read_back(
    repository: Any, git_project: GitProject, workers: Any, people: dict[str, Any]
) -> None:
    git_project.commit({".github/workflows/deploy.yml": DEPLOY_WORKFLOW}, "Add deploy")
    git_project.push()
    member = Api(people["member"])
    response = trigger(
        member,
        event="workflow_dispatch",
        workflow=".github/workflows/deploy.yml",
        inputs={"target": "staging"},
    )
    assert response.status_code == 201, response.content
    [queued] = response.json()["runs"]
    assert queued["event"] == "workflow_dispatch" and queued["actor"] == "max"
    assert queued["sha"] == git_project.head() and queued["ref"] == "refs/heads/main"
    wait_for_run_end(Run.objects.get(pk=queued["id"]))

    viewer = Api(people["viewer"])
    run = viewer.get(f"repositories/shop/runs/{queued['number']}").json()
    assert run["status"] == "success", run["reason"]
    assert run["inputs"] == {"target": "staging"}
    [job] = run["jobs"]
    assert [(step["name"], step["status"]) for step in job["steps"]] == [
        ("Build", "success"),
        ("Deploy", "success"),
    ]
    assert run["execution_table"][0]["result"].startswith("Succeeded")
    assert run["tracker"][-1]["pipeline_status"] == "Deployed"
    build_log = viewer.get(job["steps"][0]["log_url"].split("/api/", 1)[1]).json()
    # github.event.inputs as GitHub gives it: the same values, as text.
    assert [line["text"] for line in build_log["lines"]] == [
        "Building for staging",
        "event inputs: staging",
    ]
    assert build_log["complete"] is True

    listed = viewer.get("repositories/shop/runs", event="workflow_dispatch").json()
    assert [item["number"] for item in listed["items"]] == [queued["number"]]
    assert viewer.get("repositories/shop/runs", event="push").json()["items"] == []


PUSH_ONLY = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo testing
"""


def test_trigger_checks_ref_workflow_and_inputs(
    repository: Any, git_project: GitProject, people: dict[str, Any]
) -> None:
    git_project.commit(
        {".github/workflows/deploy.yml": DEPLOY_WORKFLOW, ".github/workflows/ci.yml": PUSH_ONLY},
        "Add deploy",
    )
    git_project.push()
    member = Api(people["member"])
    cases = [
        ({"event": "push", "ref": "no-such-branch"}, "ref"),
        ({"event": "push", "sha": "0123456789abcdef0123456789abcdef01234567"}, "sha"),
        ({"workflow": ".github/workflows/missing.yml"}, "workflow"),
        ({"workflow": ".github/workflows/ci.yml"}, "workflow"),  # no workflow_dispatch
        ({"workflow": ".github/workflows/deploy.yml"}, "inputs"),  # target is required
        (
            {"workflow": ".github/workflows/deploy.yml", "inputs": {"target": ["a"]}},
            "inputs.target",
        ),
    ]
    for body, field in cases:
        response = trigger(member, **body)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["field"] == field, (body, response.json())
    missing = trigger(member, workflow=".github/workflows/missing.yml").json()["detail"]
    assert "deploy.yml" in missing  # says which workflows there are
    not_dispatchable = trigger(member, workflow=".github/workflows/ci.yml").json()["detail"]
    assert not_dispatchable == (
        "workflow: .github/workflows/ci.yml: the workflow does not run on workflow_dispatch "
        "(it runs on: push)"
    )
    assert Run.objects.count() == 0


def test_a_push_run_for_a_ref_and_nothing_for_an_excluded_branch(
    repository: Any, git_project: GitProject, people: dict[str, Any]
) -> None:
    git_project.commit({".github/workflows/deploy.yml": DEPLOY_WORKFLOW}, "Add deploy")
    git_project.push("main")
    git_project.push("feature")
    member = Api(people["member"])
    pushed = trigger(member, event="push", ref="main")
    assert pushed.status_code == 201
    assert [run["event"] for run in pushed.json()["runs"]] == ["push"]
    excluded = trigger(member, event="push", ref="feature")
    assert excluded.status_code == 200
    assert excluded.json() == {
        "runs": [],
        "detail": "no workflow runs on push to refs/heads/feature",
    }
    assert Run.objects.count() == 1


def test_cancel_and_rerun_through_the_api(
    repository: Any, git_project: GitProject, workers: Any, people: dict[str, Any]
) -> None:
    slow = DEPLOY_WORKFLOW.replace('echo "Building', 'sleep 30; echo "Building')
    git_project.commit({".github/workflows/deploy.yml": slow}, "Slow build")
    git_project.push()
    member = Api(people["member"])
    [run] = trigger(member, event="push", ref="main").json()["runs"]
    from tests.server.conftest import wait_for

    wait_for(lambda: Run.objects.get(pk=run["id"]).status == "running", what="the run to start")
    cancelled = member.post(f"repositories/shop/runs/{run['number']}/cancel")
    assert cancelled.status_code == 202
    ended = wait_for_run_end(Run.objects.get(pk=run["id"]), timeout=15)
    assert ended.status == "cancelled"
    again = member.post(f"repositories/shop/runs/{run['number']}/rerun")
    assert again.status_code == 201, again.content
    body = again.json()
    assert (body["attempt"], body["rerun_of"], body["number"]) == (2, run["number"], 2)
    member.post(f"repositories/shop/runs/{body['number']}/cancel")
    wait_for_run_end(Run.objects.get(pk=body["id"]), timeout=15)


def _documented_get_urls(api: Api, run_numbers: list[int]) -> list[str]:
    """Every GET of the OpenAPI document, filled in with each run, job, step and token."""
    document = api.client.get("/api/openapi.json", headers=api.who.headers()).json()
    tokens = [token["id"] for token in api.get("tokens").json()]
    urls: list[str] = []
    for path, operations in document["paths"].items():
        if "get" not in operations:
            continue
        fillings: list[dict[str, Any]] = [{"name": "shop"}]
        if "{number}" in path:
            fillings = [{"name": "shop", "number": n} for n in run_numbers]
        if "{job}" in path:
            fillings = [
                {**filling, "job": job["id"], "steps": job["steps"]}
                for filling in fillings
                for job in api.get(f"repositories/shop/runs/{filling['number']}/jobs").json()
            ]
        if "{index}" in path:
            fillings = [
                {**filling, "index": step["index"]}
                for filling in fillings
                for step in filling["steps"]
            ]
        if "{artifact}" in path:
            fillings = [
                {**filling, "artifact": artifact["name"]}
                for filling in fillings
                for artifact in api.get(
                    f"repositories/shop/runs/{filling['number']}/artifacts"
                ).json()
            ]
        if "{environment}" in path:
            fillings = [
                {**filling, "environment": environment["name"]}
                for filling in fillings
                for environment in api.get("repositories/shop/environments").json()
            ]
        if "{token_id}" in path:
            fillings = [{"token_id": token} for token in tokens]
        for filling in fillings:
            url = path
            for key, value in filling.items():
                url = url.replace("{" + key + "}", str(value))
            urls.append(url)
    return urls


def test_no_response_ever_carries_a_secret_value(
    repository: Any, git_project: GitProject, workers: Any, people: dict[str, Any]
) -> None:
    admin = Api(people["admin"])
    bodies: list[str] = []

    def keep(response: Any) -> Any:
        if response.streaming:
            bodies.append(b"".join(response.streaming_content).decode("utf-8", "replace"))
        else:
            bodies.append(response.content.decode())
        return response

    put = keep(admin.put("repositories/shop/secrets/DEPLOY_KEY", {"value": SECRET_VALUE}))
    assert put.status_code == 201
    # An environment's secret, which the job gets instead of the repository's.
    production = "repositories/shop/environments/production"
    assert keep(admin.put(production, {})).status_code == 201
    put = keep(admin.put(f"{production}/secrets/DEPLOY_KEY", {"value": SECRET_VALUE}))
    assert put.status_code == 201
    in_production = DEPLOY_WORKFLOW.replace(
        "    runs-on: ubuntu-latest\n", "    runs-on: ubuntu-latest\n    environment: production\n"
    )
    git_project.commit({".github/workflows/deploy.yml": in_production}, "Add deploy")
    git_project.push()
    [run] = keep(trigger(admin, event="push", ref="main")).json()["runs"]
    finished = wait_for_run_end(Run.objects.get(pk=run["id"]))
    assert finished.status == "success", finished.reason
    # The secret really reached the step (masked in its log), so a leak would show.
    logs = "\n".join(
        LogChunk.objects.filter(step__job__run=finished).values_list("text", flat=True)
    )
    assert "using key ***" in logs
    keep(admin.post(f"repositories/shop/runs/{run['number']}/rerun"))
    wait_for_run_end(Run.objects.order_by("-pk").first())

    for who in ("admin", "member", "viewer"):
        api = Api(people[who])
        urls = _documented_get_urls(admin, [1, 2])
        assert len(urls) > 15
        for url in urls:
            response = keep(api.client.get(url, headers=people[who].headers()))
            assert response.status_code in (200, 403), (url, response.status_code)
    keep(admin.put("repositories/shop/secrets/DEPLOY_KEY", {"value": SECRET_VALUE + "2"}))
    keep(admin.get("repositories/shop/secrets"))

    everything = "\n".join(bodies)
    assert "***" in everything  # the masked value is there, in logs and the annotation
    assert SECRET_VALUE not in everything
    assert json.dumps(SECRET_VALUE)[1:-1] not in everything  # nor escaped in JSON
    stored = Secret.objects.get(name="DEPLOY_KEY")
    assert SECRET_VALUE not in stored.value_encrypted


def test_workflows_at_a_ref_with_their_dispatch_inputs(
    repository: Any, git_project: GitProject, people: dict[str, Any]
) -> None:
    git_project.commit(
        {
            ".github/workflows/deploy.yml": DEPLOY_WORKFLOW,
            ".github/workflows/ci.yml": PUSH_ONLY,
            ".github/workflows/broken.yml": "on: push\njobs: 3\n",
        },
        "Workflows",
    )
    git_project.push("main")
    main_sha = git_project.head()
    both = PUSH_ONLY.replace("on: push", "on: [push, pull_request]")
    git_project.commit({".github/workflows/ci.yml": both})
    git_project.push("next")
    viewer = Api(people["viewer"])
    body = viewer.get("repositories/shop/workflows").json()
    assert (body["ref"], body["sha"]) == ("refs/heads/main", main_sha)
    by_path = {workflow["path"]: workflow for workflow in body["workflows"]}
    assert sorted(by_path) == [
        ".github/workflows/broken.yml",
        ".github/workflows/ci.yml",
        ".github/workflows/deploy.yml",
    ]
    deploy = by_path[".github/workflows/deploy.yml"]
    assert deploy["name"] == "Deploy" and deploy["events"] == ["push", "workflow_dispatch"]
    assert deploy["dispatch_inputs"] == [
        {
            "name": "target",
            "description": "Where to deploy",
            "required": True,
            "default": None,
            "type": "string",
            "options": [],
        }
    ]
    assert by_path[".github/workflows/ci.yml"]["dispatch_inputs"] == []
    assert "broken.yml" in by_path[".github/workflows/broken.yml"]["problem"]
    at_next = viewer.get("repositories/shop/workflows", ref="next").json()
    ci = next(w for w in at_next["workflows"] if w["path"] == ".github/workflows/ci.yml")
    assert ci["events"] == ["pull_request", "push"]
    missing = viewer.get("repositories/shop/workflows", ref="gone")
    assert missing.status_code == 400 and missing.json()["field"] == "ref"
