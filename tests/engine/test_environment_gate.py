"""The environment gate: asked before a job that names an environment, its grant's
secrets and vars reach the steps, its refusal ends the job, its release hears the end."""

from __future__ import annotations

import time

from conveyor.engine.environments import EnvironmentGrant, EnvironmentRefused
from conveyor.engine.events import Status
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import run_yaml

WORKFLOW = """
on: push
env:
  WORKFLOW_TOKEN: ${{ secrets.TOKEN }}
jobs:
  build:
    runs-on: x
    steps:
      - run: echo "build sees '${{ secrets.TOKEN }}' '${{ vars.WHERE }}'"
  deploy:
    runs-on: x
    needs: build
    environment:
      name: ${{ vars.STAGE }}
      url: https://example.test/${{ steps.out.outputs.path }}
    steps:
      - id: out
        run: |
          echo "deploy sees '${{ secrets.TOKEN }}' '${{ vars.WHERE }}' $TOKEN"
          test "$WORKFLOW_TOKEN" = "${{ secrets.TOKEN }}"
          echo "path=release-7" >> "$GITHUB_OUTPUT"
        env:
          TOKEN: ${{ secrets.TOKEN }}
"""


def test_a_granted_environment_adds_its_secrets_and_vars_and_hears_the_end(tmp_path):
    requests, released = [], []

    def gate(request):
        requests.append((request.job_key, request.name, request.url))
        return EnvironmentGrant(
            secrets={"TOKEN": "env-token"},
            variables={"WHERE": "production"},
            release=lambda status, url: released.append((status, url)),
        )

    outcome = run_yaml(
        WORKFLOW,
        str(tmp_path),
        executor=LocalExecutor(),
        secrets={"TOKEN": "repo-token"},
        variables={"WHERE": "repository", "STAGE": "production"},
        environment_gate=gate,
    )
    assert outcome.result.status == Status.SUCCESS
    # Only the job that names the environment asks; the name's expression is evaluated.
    assert [(key, name) for key, name, _ in requests] == [("deploy", "production")]
    assert outcome.events.log("build", 0) == ["build sees '***' 'repository'"]
    # The environment's secret wins over the repository's, and is masked like one.
    assert outcome.events.log("deploy", 0) == ["deploy sees '***' 'production' ***"]
    # The url is evaluated again at the end, when the step's output is known.
    assert released == [(Status.SUCCESS, "https://example.test/release-7")]


def test_a_refused_environment_ends_the_job_before_its_first_step(tmp_path):
    released = []

    def gate(request):
        raise EnvironmentRefused(f"branch 'topic' may not deploy to {request.name}")

    outcome = run_yaml(
        WORKFLOW.replace("${{ vars.STAGE }}", "production"),
        str(tmp_path),
        executor=LocalExecutor(),
        environment_gate=gate,
    )
    deploy = outcome.result.jobs["deploy"]
    assert deploy.status == Status.FAILURE
    assert deploy.reason == "branch 'topic' may not deploy to production"
    assert outcome.events.log("deploy", 0) == []
    assert released == []


def test_without_a_gate_an_environment_is_only_a_name(tmp_path):
    outcome = run_yaml(
        WORKFLOW,
        str(tmp_path),
        executor=LocalExecutor(),
        secrets={"TOKEN": "repo-token"},
        variables={"WHERE": "repository", "STAGE": "production"},
    )
    assert outcome.result.status == Status.SUCCESS
    assert outcome.events.log("deploy", 0) == ["deploy sees '***' 'repository' ***"]


def test_time_spent_waiting_at_the_gate_is_not_the_jobs_timeout(tmp_path):
    def slow_gate(request):
        time.sleep(1.0)  # an approval that took a while
        return EnvironmentGrant()

    outcome = run_yaml(
        """
        on: push
        jobs:
          deploy:
            runs-on: x
            timeout-minutes: 0.01
            environment: production
            steps:
              - run: sleep 0.2; echo deployed
        """,
        str(tmp_path),
        executor=LocalExecutor(),
        environment_gate=slow_gate,
    )
    assert outcome.result.status == Status.SUCCESS, outcome.result.jobs["deploy"].reason
    assert outcome.events.log("deploy", 0) == ["deployed"]
