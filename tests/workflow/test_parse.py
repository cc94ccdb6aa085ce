"""Valid workflows become exactly the model they describe."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conveyor.workflow.errors import Position, WorkflowInvalid
from conveyor.workflow.load import load_action, load_workflow, parse_workflow
from conveyor.workflow.model import (
    Concurrency,
    DispatchInput,
    Environment,
    EventFilter,
    JavaScriptRuns,
    RunDefaults,
)

SEED = """\
steps:
  - name: Build
    run: python manage.py collectstatic --noinput
  - name: Test
    run: python manage.py test
  - name: Deploy
    run: echo "Deploying to server..."
"""


def parse(text: str, path: str = "ci.yml"):
    return parse_workflow(textwrap.dedent(text), path)


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorkflowInvalid) as raised:
        parse(text)
    return [f"{p.position.line}:{p.position.column} {p.message}" for p in raised.value.problems]


def test_seed_is_one_job_named_pipeline(tmp_path: Path) -> None:
    path = tmp_path / ".conveyor.yml"
    path.write_text(SEED, encoding="utf-8")
    workflow = load_workflow(path, display_path=".conveyor.yml")
    assert workflow.shorthand is True
    assert workflow.path == ".conveyor.yml"
    assert set(workflow.on.events) == {"push", "workflow_dispatch"}
    assert list(workflow.jobs) == ["pipeline"]
    job = workflow.jobs["pipeline"]
    assert job.name == "pipeline"
    assert job.needs == []
    assert [(s.index, s.name, s.run) for s in job.steps] == [
        (0, "Build", "python manage.py collectstatic --noinput"),
        (1, "Test", "python manage.py test"),
        (2, "Deploy", 'echo "Deploying to server..."'),
    ]
    assert [s.position for s in job.steps] == [
        Position(".conveyor.yml", 2, 5),
        Position(".conveyor.yml", 4, 5),
        Position(".conveyor.yml", 6, 5),
    ]
    assert job.steps[0].positions["run"] == Position(".conveyor.yml", 3, 10)
    assert job.timeout_minutes == 360


def test_shorthand_takes_its_name_and_on_from_the_top_level() -> None:
    workflow = parse(
        """\
        name: Django pipeline
        on:
          push:
            branches: [main]
        env:
          DJANGO_SETTINGS_MODULE: site.settings
        timeout-minutes: 15
        steps:
          - run: python manage.py test
        """
    )
    job = workflow.jobs["pipeline"]
    assert job.name == "Django pipeline"
    assert workflow.on.events == {"push": EventFilter(branches=["main"])}
    assert workflow.env == {"DJANGO_SETTINGS_MODULE": "site.settings"}
    assert job.timeout_minutes == 15


RICH = """\
name: CI
run-name: CI for ${{ github.ref_name }}
on:
  push:
    branches: [main, 'release/**']
    tags: ['v*']
    paths-ignore: [docs/**]
  pull_request:
    types: [opened, synchronize]
  schedule:
    - cron: '30 2 * * 1-5'
    - cron: '0 6 * * 0'
      timezone: Europe/Paris
  workflow_dispatch:
    inputs:
      level:
        description: Log level
        required: true
        default: warning
        type: choice
        options: [info, warning, debug]
      dry-run:
        type: boolean
        default: false
      retries:
        type: number
        default: 3
permissions:
  contents: read
env:
  PYTHONUNBUFFERED: 1
  VERSION: 1.10
  DEBUG: false
  EMPTY:
defaults:
  run:
    shell: bash
    working-directory: app
concurrency:
  group: ci-${{ github.ref }}
  cancel-in-progress: true
"""


def test_top_level_keys() -> None:
    workflow = parse(
        RICH + "jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"
    )
    assert workflow.name == "CI"
    assert workflow.run_name == "CI for ${{ github.ref_name }}"
    assert workflow.on.events["push"] == EventFilter(
        branches=["main", "release/**"], tags=["v*"], paths_ignore=["docs/**"]
    )
    assert workflow.on.events["pull_request"] == EventFilter(types=["opened", "synchronize"])
    assert "schedule" not in workflow.on.events
    assert workflow.on.schedule == ["30 2 * * 1-5", "0 6 * * 0"]
    assert workflow.on.timezones == {"0 6 * * 0": "Europe/Paris"}
    assert workflow.on.events["workflow_dispatch"] == EventFilter()
    assert workflow.on.inputs == {
        "level": DispatchInput(
            name="level",
            description="Log level",
            required=True,
            default="warning",
            type="choice",
            options=["info", "warning", "debug"],
        ),
        "dry-run": DispatchInput(name="dry-run", type="boolean", default=False),
        "retries": DispatchInput(name="retries", type="number", default=3),
    }
    assert workflow.permissions == {"contents": "read"}
    # GitHub reads env values as the text written: 1.10 stays "1.10", false is "false".
    assert workflow.env == {
        "PYTHONUNBUFFERED": "1",
        "VERSION": "1.10",
        "DEBUG": "false",
        "EMPTY": "",
    }
    assert workflow.defaults == RunDefaults(shell="bash", working_directory="app")
    assert workflow.concurrency == Concurrency(
        group="ci-${{ github.ref }}", cancel_in_progress=True
    )
    assert workflow.positions["jobs"] == Position("ci.yml", 43, 3)


def test_on_key_and_yaml_11_booleans_stay_strings() -> None:
    workflow = parse(
        """\
        on: [push, workflow_dispatch]
        jobs:
          yes:
            runs-on: ubuntu-latest
            steps:
              - run: echo
                env:
                  off: no
                  on: yes
        """
    )
    assert set(workflow.on.events) == {"push", "workflow_dispatch"}
    assert list(workflow.jobs) == ["yes"]
    assert workflow.jobs["yes"].steps[0].env == {"off": "no", "on": "yes"}


def test_on_as_a_single_string() -> None:
    workflow = parse(
        """\
        on: pull_request
        jobs:
          a: {runs-on: x, steps: [{run: echo}]}
        """
    )
    assert workflow.on.events == {"pull_request": EventFilter()}


GRAPH = """\
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: ruff check .
  test:
    name: Test (py${{ matrix.python }})
    needs: lint
    runs-on: ${{ matrix.os }}
    timeout-minutes: 20
    continue-on-error: ${{ matrix.experimental }}
    strategy:
      fail-fast: false
      max-parallel: 2
      matrix:
        os: [ubuntu-latest]
        python: ['3.11', '3.12', 3.10]
        experimental: [false]
        include:
          - python: '3.13'
            experimental: true
        exclude:
          - python: '3.11'
    outputs:
      coverage: ${{ steps.cov.outputs.percent }}
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
          lfs: true
      - id: cov
        name: Coverage
        if: success() && github.event_name == 'push'
        run: |
          coverage run -m pytest
          echo "percent=$(coverage report --format=total)" >> "$GITHUB_OUTPUT"
        shell: bash
        working-directory: src
        timeout-minutes: 5.5
        continue-on-error: true
        env:
          COVERAGE_FILE: .coverage.${{ matrix.python }}
  deploy:
    needs: [lint, test]
    if: github.ref == 'refs/heads/main'
    runs-on: [self-hosted, linux]
    environment:
      name: production
      url: https://example.com
    concurrency: deploy-production
    steps:
      - uses: ./.github/actions/deploy
        with:
          target: production
      - run: ./notify.py
        shell: python
      - run: echo done
        shell: bash -l {0}
"""


def test_jobs_graph_matrix_outputs_and_steps() -> None:
    workflow = parse(GRAPH)
    assert list(workflow.jobs) == ["lint", "test", "deploy"]
    lint, test, deploy = workflow.jobs.values()
    assert lint.needs == [] and lint.runs_on == "ubuntu-latest"
    assert lint.steps[0].uses == "actions/checkout@v4"
    assert lint.position == Position("ci.yml", 3, 3)

    assert test.name == "Test (py${{ matrix.python }})"
    assert test.needs == ["lint"]
    assert test.runs_on == "${{ matrix.os }}"
    assert test.timeout_minutes == 20
    assert test.continue_on_error == "${{ matrix.experimental }}"
    assert test.strategy is not None
    assert test.strategy.fail_fast is False
    assert test.strategy.max_parallel == 2
    assert test.strategy.matrix == {
        "os": ["ubuntu-latest"],
        # Unquoted 3.10 is a number, as on GitHub (it becomes 3.1).
        "python": ["3.11", "3.12", 3.1],
        "experimental": [False],
        "include": [{"python": "3.13", "experimental": True}],
        "exclude": [{"python": "3.11"}],
    }
    assert test.outputs == {"coverage": "${{ steps.cov.outputs.percent }}"}
    checkout, coverage = test.steps
    assert checkout.with_ == {"fetch-depth": "0", "lfs": "true"}
    assert coverage.id == "cov"
    assert coverage.name == "Coverage"
    assert coverage.if_ == "success() && github.event_name == 'push'"
    assert coverage.run is not None and coverage.run.startswith("coverage run -m pytest\n")
    assert coverage.shell == "bash"
    assert coverage.working_directory == "src"
    assert coverage.timeout_minutes == 5.5
    assert coverage.continue_on_error is True
    assert coverage.env == {"COVERAGE_FILE": ".coverage.${{ matrix.python }}"}
    assert coverage.index == 1
    assert coverage.positions["run"] == Position("ci.yml", 36, 14)

    assert deploy.needs == ["lint", "test"]
    assert deploy.if_ == "github.ref == 'refs/heads/main'"
    assert deploy.runs_on == ["self-hosted", "linux"]
    assert deploy.environment == Environment(name="production", url="https://example.com")
    assert deploy.concurrency == Concurrency(group="deploy-production")
    assert deploy.steps[0].uses == "./.github/actions/deploy"
    assert deploy.steps[0].with_ == {"target": "production"}
    assert deploy.steps[1].shell == "python"
    assert deploy.steps[2].shell == "bash -l {0}"
    assert deploy.positions["needs"] == Position("ci.yml", 46, 12)


def test_anchors_aliases_and_merge_keys() -> None:
    workflow = parse(
        """\
        on: push
        jobs:
          test: &base
            runs-on: ubuntu-latest
            timeout-minutes: 10
            env: &env
              CI: "true"
              LEVEL: one
            steps:
              - &checkout
                uses: actions/checkout@v4
              - run: make test
          build:
            <<: *base
            timeout-minutes: 30
            env:
              <<: *env
              LEVEL: two
            steps:
              - *checkout
              - run: make build
        """
    )
    test, build = workflow.jobs.values()
    assert test.timeout_minutes == 10
    assert build.timeout_minutes == 30
    assert build.runs_on == "ubuntu-latest"
    assert test.env == {"CI": "true", "LEVEL": "one"}
    assert build.env == {"CI": "true", "LEVEL": "two"}
    assert [s.uses or s.run for s in build.steps] == ["actions/checkout@v4", "make build"]


def test_if_accepts_booleans_and_wrapped_expressions() -> None:
    workflow = parse(
        """\
        on: push
        jobs:
          off:
            if: false
            runs-on: x
            steps:
              - run: echo
                if: ${{ always() }}
        """
    )
    job = workflow.jobs["off"]
    assert job.if_ == "false"
    assert job.steps[0].if_ == "${{ always() }}"


def test_every_event_name_is_accepted() -> None:
    workflow = parse(
        """\
        on:
          branch_protection_rule:
          check_run: {types: [rerequested, completed]}
          check_suite: {types: [completed]}
          create:
          delete:
          deployment:
          deployment_status:
          discussion: {types: [created, answered]}
          discussion_comment:
          fork:
          gollum:
          issue_comment: {types: [created]}
          issues: {types: [opened, labeled]}
          label:
          merge_group: {types: [checks_requested]}
          milestone:
          page_build:
          public:
          pull_request_review: {types: [submitted]}
          pull_request_review_comment:
          pull_request_target: {types: [labeled], branches: [main]}
          registry_package: {types: [published]}
          release: {types: [published, prereleased]}
          repository_dispatch: {types: [deploy-request]}
          status:
          watch: {types: [started]}
          workflow_run:
            workflows: [CI]
            types: [completed]
            branches: [main]
          workflow_call:
            inputs:
              env: {type: string, required: true}
            secrets:
              token: {required: false}
            outputs:
              url: {value: "${{ jobs.a.outputs.url }}"}
        jobs:
          a: {runs-on: x, steps: [{run: echo}]}
        """
    )
    assert len(workflow.on.events) == 28
    assert workflow.on.events["workflow_run"] == EventFilter(
        workflows=["CI"], types=["completed"], branches=["main"]
    )
    assert workflow.on.events["repository_dispatch"].types == ["deploy-request"]


def test_max_parallel_and_timeout_as_expressions() -> None:
    workflow = parse(
        """\
        on: push
        jobs:
          a:
            runs-on: x
            timeout-minutes: ${{ inputs.timeout }}
            strategy:
              max-parallel: ${{ vars.PARALLEL }}
              matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}
            steps:
              - run: echo
        """
    )
    job = workflow.jobs["a"]
    assert job.timeout_minutes == "${{ inputs.timeout }}"
    assert job.strategy is not None
    assert job.strategy.max_parallel == "${{ vars.PARALLEL }}"
    assert job.strategy.matrix == "${{ fromJSON(needs.plan.outputs.matrix) }}"


def test_each_wrong_need_is_pinned_to_its_item() -> None:
    assert problems_of(
        """\
        on: push
        jobs:
          a:
            runs-on: x
            needs: [b, zzz]
            steps: [{run: echo}]
          b:
            runs-on: x
            needs: [a]
            steps: [{run: echo}]
        """
    ) == [
        "5:12 jobs depend on each other in a cycle: a -> b -> a",
        "5:16 job 'a' needs unknown job 'zzz'",
    ]


def test_missing_runs_on_is_not_reported_twice_when_misspelled() -> None:
    assert problems_of(
        """\
        on: push
        jobs:
          a:
            runs_on: x
            steps: [{run: echo}]
        """
    ) == ["4:5 unknown key 'runs_on' in job 'a'; did you mean 'runs-on'?"]


def test_composite_action(tmp_path: Path) -> None:
    action_dir = tmp_path / ".github" / "actions" / "deploy"
    action_dir.mkdir(parents=True)
    (action_dir / "action.yml").write_text(
        textwrap.dedent(
            """\
            name: Deploy
            description: Ship it
            inputs:
              target:
                description: Where to
                required: true
              dry-run:
                default: "false"
            outputs:
              url:
                description: Deployed URL
                value: ${{ steps.ship.outputs.url }}
            runs:
              using: composite
              steps:
                - id: ship
                  run: ./ship.sh "${{ inputs.target }}"
                  shell: bash
                - uses: ./.github/actions/notify
                  with:
                    message: done
            """
        ),
        encoding="utf-8",
    )
    action = load_action(action_dir, display_path="./.github/actions/deploy")
    assert action.path == "./.github/actions/deploy/action.yml"
    assert action.name == "Deploy"
    assert action.description == "Ship it"
    assert action.inputs == {
        "target": DispatchInput(name="target", description="Where to", required=True),
        "dry-run": DispatchInput(name="dry-run", default="false"),
    }
    assert action.outputs == {"url": "${{ steps.ship.outputs.url }}"}
    assert [s.id for s in action.steps] == ["ship", None]
    assert action.steps[0].shell == "bash"
    assert action.steps[1].with_ == {"message": "done"}


def test_composite_action_yaml_extension_and_errors(tmp_path: Path) -> None:
    (tmp_path / "action.yaml").write_text(
        "name: x\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n",
        encoding="utf-8",
    )
    with pytest.raises(WorkflowInvalid) as raised:
        load_action(tmp_path, display_path="./act")
    assert [str(p) for p in raised.value.problems] == [
        "./act/action.yaml:5:7: step 1 of the action runs a command, so it needs 'shell' "
        "in a composite action"
    ]


def test_a_javascript_action_needs_main(tmp_path: Path) -> None:
    (tmp_path / "action.yml").write_text("name: x\nruns:\n  using: node20\n", encoding="utf-8")
    with pytest.raises(WorkflowInvalid) as raised:
        load_action(tmp_path)
    [problem] = raised.value.problems
    assert (problem.position.line, problem.position.column) == (3, 3)
    assert "missing the required key 'main'" in problem.message


def test_a_javascript_action_with_pre_and_post(tmp_path: Path) -> None:
    (tmp_path / "action.yml").write_text(
        "inputs:\n  who: {default: me}\noutputs:\n  said: {description: what}\n"
        "runs:\n  using: node16\n  main: dist/main.js\n  pre: pre.js\n  post: post.js\n"
        "  post-if: success()\n",
        encoding="utf-8",
    )
    action = load_action(tmp_path)
    assert action.using == "node16"
    assert action.javascript == JavaScriptRuns(
        main="dist/main.js", pre="pre.js", post="post.js", pre_if="always()", post_if="success()"
    )
    assert action.outputs == {"said": ""}
    assert action.inputs["who"].default == "me"


def test_a_docker_action_and_an_unknown_runtime(tmp_path: Path) -> None:
    (tmp_path / "action.yml").write_text(
        "runs:\n  using: docker\n  image: Dockerfile\n  args: [a]\n", encoding="utf-8"
    )
    action = load_action(tmp_path)
    assert (action.using, action.docker_image) == ("docker", "Dockerfile")
    (tmp_path / "action.yml").write_text("runs:\n  using: node8\n  main: a.js\n")
    with pytest.raises(WorkflowInvalid) as raised:
        load_action(tmp_path)
    [problem] = raised.value.problems
    assert (problem.position.line, problem.position.column) == (2, 10)
    assert "unknown 'runs.using: node8'" in problem.message


def test_missing_action_directory(tmp_path: Path) -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        load_action(tmp_path / "nowhere", display_path="./nowhere")
    assert "no action.yml or action.yaml in ./nowhere" in str(raised.value)


def test_conveyor_file_may_leave_out_on_but_github_workflows_may_not() -> None:
    text = "jobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n"
    workflow = parse_workflow(text, "repo/.conveyor.yml")
    assert set(workflow.on.events) == {"push", "workflow_dispatch"}
    assert workflow.shorthand is False
    with pytest.raises(WorkflowInvalid) as raised:
        parse_workflow(text, ".github/workflows/ci.yml")
    assert [str(p) for p in raised.value.problems] == [
        ".github/workflows/ci.yml:1:1: the workflow is missing the required key 'on'"
    ]


def test_misspelt_run_is_one_problem_not_two() -> None:
    assert problems_of(
        """\
        steps:
          - name: Build
            runs: make
        """
    ) == ["3:5 unknown key 'runs' in step 1 of the workflow; did you mean 'run'?"]


def test_step_names_and_job_names_in_shorthand_messages() -> None:
    assert problems_of(
        """\
        name: Seed
        timeout-minutes: -1
        steps:
          - run: make
            shell: powershell
        """
    ) == [
        "2:18 'timeout-minutes' of the workflow must be at least 0, got -1",
        "5:12 shell 'powershell' is not supported on this host",
    ]
