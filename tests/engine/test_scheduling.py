"""The job graph: needs, parallelism, job `if`, matrices, fail-fast (fake executor)."""

from __future__ import annotations

import pytest

from conveyor.engine.events import RunFinished, Status
from tests.engine.helpers import run_yaml


def test_needs_order_and_outputs_flow_between_jobs(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          build:
            runs-on: ubuntu-latest
            outputs:
              version: ${{ steps.v.outputs.version }}
            steps:
              - id: v
                run: make version
                env:
                  FAKE_GITHUB_OUTPUT: version=1.4.2
          deploy:
            needs: build
            runs-on: ubuntu-latest
            steps:
              - run: deploy ${{ needs.build.outputs.version }} ${{ needs.build.result }}
        """,
        str(tmp_path),
    )
    assert outcome.result.status == Status.SUCCESS
    assert outcome.events.order() == ["start:build", "end:build", "start:deploy", "end:deploy"]
    assert outcome.result.jobs["build"].outputs == {"version": "1.4.2"}
    assert outcome.events.job("deploy").step(0).command == "deploy 1.4.2 success"


def test_at_most_max_parallel_jobs_run_at_once(tmp_path):
    text = """
        on: push
        jobs:
          one: {runs-on: x, steps: [{run: a, env: {FAKE_SLEEP: "0.15"}}]}
          two: {runs-on: x, steps: [{run: b, env: {FAKE_SLEEP: "0.15"}}]}
          three: {runs-on: x, steps: [{run: c, env: {FAKE_SLEEP: "0.15"}}]}
        """
    serial = run_yaml(text, str(tmp_path), max_parallel_jobs=1)
    order = serial.events.order()
    assert [mark.split(":")[0] for mark in order] == ["start", "end"] * 3
    parallel = run_yaml(text, str(tmp_path), max_parallel_jobs=3)
    assert [mark.split(":")[0] for mark in parallel.events.order()][:3] == ["start"] * 3


def test_a_failed_need_skips_dependents_unless_their_if_says_otherwise(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          build:
            runs-on: x
            steps: [{run: make, env: {FAKE_EXIT_CODE: "2"}}]
          test:
            needs: build
            runs-on: x
            steps: [{run: test}]
          report:
            needs: test
            if: failure()
            runs-on: x
            steps: [{run: report}]
          cleanup:
            needs: build
            if: always()
            runs-on: x
            steps: [{run: cleanup}]
          only-on-success:
            needs: cleanup
            if: success()
            runs-on: x
            steps: [{run: never}]
        """,
        str(tmp_path),
    )
    statuses = outcome.events.statuses()
    assert statuses == {
        "build": Status.FAILURE,
        "test": Status.SKIPPED,
        "cleanup": Status.SUCCESS,
        # failure() looks at every ancestor: build failed two levels up.
        "report": Status.SUCCESS,
        "only-on-success": Status.SKIPPED,
    }
    assert outcome.result.status == Status.FAILURE
    assert "build" in (outcome.result.reason or "")


def test_a_skipped_need_skips_the_dependent_by_default(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          maybe:
            if: github.ref == 'refs/heads/main'
            runs-on: x
            steps: [{run: a}]
          after:
            needs: maybe
            runs-on: x
            steps: [{run: b}]
          anyway:
            needs: maybe
            if: ${{ !failure() && needs.maybe.result == 'skipped' }}
            runs-on: x
            steps: [{run: c}]
        """,
        str(tmp_path),
    )
    assert outcome.events.statuses() == {
        "maybe": Status.SKIPPED,
        "after": Status.SKIPPED,
        "anyway": Status.SUCCESS,
    }
    assert outcome.result.status == Status.SUCCESS
    # A skipped job gets a JobFinished with its name but never a JobStarted.
    assert "start:maybe" not in outcome.events.order()


def test_job_if_sees_github_vars_and_inputs(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            if: github.actor == 'dev' && vars.STAGE == 'prod' && inputs.go == 'yes'
            runs-on: x
            steps: [{run: a}]
          b:
            if: vars.STAGE == 'dev'
            runs-on: x
            steps: [{run: b}]
        """,
        str(tmp_path),
        variables={"STAGE": "prod"},
        inputs={"go": "yes"},
    )
    assert outcome.events.statuses() == {"a": Status.SUCCESS, "b": Status.SKIPPED}


def test_matrix_from_an_expression_over_needs_outputs(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          plan:
            runs-on: x
            outputs:
              matrix: ${{ steps.m.outputs.json }}
            steps:
              - id: m
                run: plan
                env:
                  FAKE_GITHUB_OUTPUT: 'json={"py": ["3.11", "3.12"], "os": ["linux"]}'
          test:
            needs: plan
            runs-on: x
            strategy:
              matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}
            steps:
              - run: test ${{ matrix.py }} ${{ strategy.job-index }}/${{ strategy.job-total }}
        """,
        str(tmp_path),
    )
    assert outcome.result.status == Status.SUCCESS
    keys = [key for key in outcome.result.jobs if key.startswith("test")]
    assert keys == ["test (3.11, linux)", "test (3.12, linux)"]
    assert outcome.result.jobs["test (3.12, linux)"].matrix == {"py": "3.12", "os": "linux"}
    scripts = [outcome.events.job(key).step(0).command for key in keys]
    assert scripts == ["test 3.11 0/2", "test 3.12 1/2"]


def test_fail_fast_cancels_the_rest_of_the_matrix(tmp_path):
    text = """
        on: push
        jobs:
          test:
            runs-on: x
            strategy:
              fail-fast: {fail_fast}
              matrix:
                n: [1, 2, 3]
            steps:
              - run: test
                env:
                  FAKE_EXIT_CODE: ${{{{ matrix.n == 1 && '1' || '0' }}}}
                  FAKE_SLEEP: ${{{{ matrix.n == 1 && '0' || '2' }}}}
        """
    fast = run_yaml(text.format(fail_fast="true"), str(tmp_path))
    assert fast.events.statuses() == {
        "test (1)": Status.FAILURE,
        "test (2)": Status.CANCELLED,
        "test (3)": Status.CANCELLED,
    }
    assert fast.result.status == Status.FAILURE
    assert fast.result.duration < 1.5

    text_short = text.replace("'2'", "'0.1'")
    slow = run_yaml(text_short.format(fail_fast="false"), str(tmp_path))
    assert slow.events.statuses() == {
        "test (1)": Status.FAILURE,
        "test (2)": Status.SUCCESS,
        "test (3)": Status.SUCCESS,
    }


def test_matrix_max_parallel(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          test:
            runs-on: x
            strategy:
              max-parallel: 1
              matrix:
                n: [1, 2, 3]
            steps: [{run: t, env: {FAKE_SLEEP: "0.05"}}]
        """,
        str(tmp_path),
        max_parallel_jobs=4,
    )
    assert [mark.split(":")[0] for mark in outcome.events.order()] == ["start", "end"] * 3


def test_needs_of_a_matrix_job_fails_if_any_combination_failed_and_merges_outputs(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          build:
            runs-on: x
            strategy:
              fail-fast: false
              matrix:
                n: [1, 2]
            outputs:
              first: ${{ steps.s.outputs.first }}
              second: ${{ steps.s.outputs.second }}
            steps:
              - id: s
                run: b
                env:
                  FAKE_GITHUB_OUTPUT: ${{ matrix.n == 1 && 'first=from-1' || 'second=from-2' }}
                  FAKE_EXIT_CODE: ${{ matrix.n == 2 && '1' || '0' }}
          report:
            needs: build
            if: always()
            runs-on: x
            steps:
              - run: >-
                  ${{ needs.build.result }} ${{ needs.build.outputs.first }}
                  ${{ needs.build.outputs.second }}
        """,
        str(tmp_path),
    )
    assert outcome.events.job("report").step(0).command == "failure from-1 from-2"


def test_only_jobs_runs_the_target_and_its_needs(tmp_path):
    text = """
        on: push
        jobs:
          lint: {runs-on: x, steps: [{run: lint}]}
          build: {runs-on: x, steps: [{run: build}]}
          test: {runs-on: x, needs: build, steps: [{run: test}]}
        """
    outcome = run_yaml(text, str(tmp_path), only_jobs=["test"])
    assert set(outcome.events.statuses()) == {"build", "test"}
    with pytest.raises(ValueError, match="no job 'nope'"):
        run_yaml(text, str(tmp_path), only_jobs=["nope"])


def test_job_continue_on_error_keeps_the_run_green(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          flaky:
            runs-on: x
            continue-on-error: true
            steps: [{run: f, env: {FAKE_EXIT_CODE: "1"}}]
          after:
            needs: flaky
            runs-on: x
            steps: [{run: a}]
        """,
        str(tmp_path),
    )
    assert outcome.result.jobs["flaky"].status == Status.FAILURE
    assert outcome.result.jobs["flaky"].continued_on_error
    assert outcome.result.jobs["after"].status == Status.SUCCESS
    assert outcome.result.status == Status.SUCCESS


def test_an_engine_bug_ends_the_run_with_a_reason(tmp_path):
    class BrokenHost:
        temp_dir = str(tmp_path)
        workspace = str(tmp_path)

        def run(self, command):
            raise RuntimeError("executor exploded")

        def close(self):
            pass

    class BrokenExecutor:
        name = "broken"

        def prepare_job(self, job_key, workspace):
            return BrokenHost()

    outcome = run_yaml(
        """
        on: push
        jobs:
          a: {runs-on: x, steps: [{run: one}, {run: two}]}
        """,
        str(tmp_path),
        executor=BrokenExecutor(),
    )
    assert outcome.result.status == Status.FAILURE
    finished = outcome.events.events[-1]
    assert isinstance(finished, RunFinished)
    assert "executor exploded" in (finished.reason or "")
    assert outcome.events.job("a").steps[1].status == Status.SKIPPED


def test_needs_that_can_never_be_met_fail_instead_of_hanging(tmp_path):
    # The parser refuses these; a model built by hand must still not hang the engine.
    from conveyor.engine.runner import RunOptions, run_workflow
    from conveyor.executors.fake import FakeExecutor
    from conveyor.workflow.errors import Position
    from conveyor.workflow.model import Job, Step, Workflow
    from tests.engine.helpers import GIT, EventLog

    where = Position("hand.yml", 1, 1)

    def job(job_id: str, needs: list[str]) -> Job:
        return Job(id=job_id, position=where, needs=needs, steps=[Step(0, where, run="x")])

    workflow = Workflow(
        path="hand.yml",
        position=where,
        jobs={"a": job("a", ["b"]), "b": job("b", ["a"]), "c": job("c", ["ghost"])},
    )
    sink = EventLog()
    result = run_workflow(
        workflow, RunOptions(workspace=str(tmp_path), git=GIT), FakeExecutor(), sink
    )
    assert result.status == Status.FAILURE
    reasons = {key: job.reason or "" for key, job in result.jobs.items()}
    assert "cycle" in reasons["a"] and "cycle" in reasons["b"]
    assert "ghost" in reasons["c"]


def test_matrix_job_names_from_an_expression_and_the_default_form(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          test:
            name: Test on ${{ matrix.os }}
            runs-on: x
            strategy:
              matrix:
                os: [linux, mac]
            steps: [{run: t}]
          lint:
            name: Lint
            runs-on: x
            strategy:
              matrix:
                tool: [ruff]
            steps: [{run: l}]
        """,
        str(tmp_path),
    )
    names = {key: job.name for key, job in outcome.events.jobs.items()}
    assert names == {
        "test (linux)": "Test on linux",
        "test (mac)": "Test on mac",
        "lint (ruff)": "Lint (ruff)",
    }
