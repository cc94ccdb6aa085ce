"""A pushed workflow calling a reusable workflow of the same repository: the server
records the called jobs as `caller / job` under the caller, and the run page shows them."""

from __future__ import annotations

import pytest

from conveyor.server.runs import services
from conveyor.server.runs.models import Run, Step
from conveyor.server.ui.graph import job_graph
from tests.server import test_fork_support as fork
from tests.server.conftest import wait_for_run_end
from tests.server.test_ui_support import cast  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

CALLER = """\
name: CI
on: push
jobs:
  call:
    name: Shared checks
    uses: ./.github/workflows/shared.yml
    with:
      greeting: hello
  after:
    needs: call
    runs-on: local
    steps:
      - run: echo "the call said ${{ needs.call.outputs.said }}"
"""

SHARED = """\
on:
  workflow_call:
    inputs:
      greeting: {type: string, required: true}
    outputs:
      said:
        value: ${{ jobs.speak.outputs.said }}
jobs:
  speak:
    runs-on: local
    outputs:
      said: ${{ steps.s.outputs.said }}
    steps:
      - id: s
        run: |
          echo "speaking ${{ inputs.greeting }}"
          echo "said=${{ inputs.greeting }} world" >> "$GITHUB_OUTPUT"
  listen:
    needs: speak
    runs-on: local
    steps:
      - run: echo listening
"""


def test_the_called_jobs_are_recorded_and_shown_under_the_caller(
    repository,
    git_project,
    workers,
    cast,  # noqa: F811
):
    git_project.commit(
        {".github/workflows/ci.yml": CALLER, ".github/workflows/shared.yml": SHARED}, "Add CI"
    )
    before, after = git_project.push()
    # the reusable workflow does not run on push by itself
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before
    )
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    jobs = list(run.jobs.order_by("order", "id"))
    assert [(j.job_key, j.job_id, j.name, j.status) for j in jobs] == [
        ("call / speak", "call", "Shared checks / speak", "success"),
        ("call / listen", "call", "Shared checks / listen", "success"),
        ("after", "after", "after", "success"),
    ]
    speak = Step.objects.get(job=jobs[0], index=0)
    assert "speaking hello" in "\n".join(chunk.text for chunk in speak.log_chunks.all())
    after_step = Step.objects.get(job=jobs[2], index=0)
    assert "the call said hello world" in "\n".join(
        chunk.text for chunk in after_step.log_chunks.all()
    )
    # the graph has one node for the caller, the table its row; the page lists its jobs
    graph = job_graph(jobs)
    assert [(node.job_id, node.name, node.instances) for node in graph.nodes] == [
        ("call", "Shared checks", 2),
        ("after", "after", 1),
    ]
    rows = [row["action"] for row in run.execution["table"]]
    assert rows == ["Shared checks", "after", "Pipeline End"]
    page = cast["viewer"].get(f"/repos/shop/runs/{run.number}/").content.decode()
    assert "Shared checks / speak" in page and "Shared checks / listen" in page


def called_show(code: str) -> dict[str, str]:
    """A pull_request workflow whose only job calls one that prints the secrets."""
    caller = (
        "on: pull_request\njobs:\n  checks:\n    uses: ./.github/workflows/show.yml\n"
        "    secrets: inherit\n"
    )
    show = (
        "on: workflow_call\njobs:\n  show:\n    runs-on: ubuntu-latest\n    steps:\n"
        + fork.SHOW.replace("CODE", code)
    )
    return {".github/workflows/pr.yml": caller, ".github/workflows/show.yml": show}


@pytest.mark.parametrize("from_fork", [True, False])
def test_secrets_inherit_passes_nothing_in_a_forks_run(
    client, repository, git_project, workers, from_fork
):
    fork.configure(repository)
    repository.require_fork_approval = False
    repository.save()
    shas = fork.base_and_head(git_project, called_show("base"), called_show("head"))
    response = fork.send(client, repository, fork.pull_request_delivery(*shas, fork=from_fork))
    assert response.status_code == 200, response.content
    [run] = Run.objects.all()
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    assert [job.job_key for job in run.jobs.all()] == ["checks / show"]
    expected = fork.without_secrets(run) if from_fork else fork.with_secrets(run)
    assert fork.printed(run) == {**expected, "code": "head"}
