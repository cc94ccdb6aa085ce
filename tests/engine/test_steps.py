"""Steps inside a job: if, continue-on-error, env layering, defaults, contexts (fake executor)."""

from __future__ import annotations

import json
import os

from conveyor.engine.events import Annotation, Status, StepSummary
from tests.engine.helpers import run_yaml


def test_a_failing_step_skips_later_steps_except_failure_and_always(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: ok
              - name: Broken
                run: broken
                env: {FAKE_EXIT_CODE: "3"}
              - run: skipped
              - if: failure()
                run: on failure
              - if: always()
                run: always
              - if: success()
                run: on success
        """,
        str(tmp_path),
    )
    job = outcome.events.job("a")
    assert [step.status for step in job.steps.values()] == [
        Status.SUCCESS,
        Status.FAILURE,
        Status.SKIPPED,
        Status.SUCCESS,
        Status.SUCCESS,
        Status.SKIPPED,
    ]
    assert job.step(1).exit_code == 3
    assert "##[error]Process completed with exit code 3." in outcome.events.log("a", 1)
    assert job.status == Status.FAILURE
    assert outcome.result.jobs["a"].reason == "step 'Broken' failed with exit code 3"
    assert not job.steps[2].started  # a skipped step has no StepStarted


def test_continue_on_error_step_outcome_failure_conclusion_success(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - id: lint
                run: lint
                continue-on-error: true
                env: {FAKE_EXIT_CODE: "1"}
              - run: echo ${{ steps.lint.outcome }} ${{ steps.lint.conclusion }}
        """,
        str(tmp_path),
    )
    lint = outcome.result.jobs["a"].steps[0]
    assert (lint.outcome, lint.status) == (Status.FAILURE, Status.SUCCESS)
    assert outcome.events.job("a").step(1).command == "echo failure success"
    assert outcome.result.status == Status.SUCCESS


def test_env_layers_workflow_job_step_and_github_env(tmp_path):
    outcome = run_yaml(
        """
        on: push
        env:
          LEVEL: workflow
          FROM_WORKFLOW: w
        jobs:
          a:
            runs-on: x
            env:
              LEVEL: job
              FROM_JOB: ${{ env.FROM_WORKFLOW }}-j
            steps:
              - run: first
                env:
                  LEVEL: step
                  FAKE_GITHUB_ENV: "LEVEL=from-file;ADDED=yes"
              - run: second
              - run: third
                env:
                  LEVEL: step-wins
        """,
        str(tmp_path),
        base_env={"PATH": os.environ["PATH"], "HOST_ONLY": "h", "LEVEL": "host"},
    )
    first, second, third = outcome.executor.commands
    assert (first.env["LEVEL"], first.env["FROM_JOB"], first.env["HOST_ONLY"]) == (
        "step",
        "w-j",
        "h",
    )
    assert "ADDED" not in first.env
    assert (second.env["LEVEL"], second.env["ADDED"]) == ("from-file", "yes")
    assert third.env["LEVEL"] == "step-wins"


def test_default_environment_of_a_hosted_runner(tmp_path):
    outcome = run_yaml(
        """
        name: CI
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - id: compile
                run: a
              - run: b
              - run: c
        """,
        str(tmp_path),
        event_payload={"head_commit": {"message": "hi"}},
        run_id="777",
        run_number=5,
    )
    first, second, third = outcome.executor.commands
    env = first.env
    expected = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_SHA": "1234567890abcdef1234567890abcdef12345678",
        "GITHUB_REF": "refs/heads/feature",
        "GITHUB_REF_NAME": "feature",
        "GITHUB_REF_TYPE": "branch",
        "GITHUB_REPOSITORY": "acme/widgets",
        "GITHUB_REPOSITORY_OWNER": "acme",
        "GITHUB_RUN_ID": "777",
        "GITHUB_RUN_NUMBER": "5",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "build",
        "GITHUB_ACTION": "compile",
        "GITHUB_ACTOR": "dev",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_WORKFLOW": "CI",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_GRAPHQL_URL": "https://api.github.com/graphql",
        "GITHUB_HEAD_REF": "",
        "GITHUB_BASE_REF": "",
    }
    assert {name: env.get(name) for name in expected} == expected
    for name in ("RUNNER_OS", "RUNNER_ARCH", "RUNNER_NAME", "RUNNER_TEMP", "RUNNER_TOOL_CACHE"):
        assert env.get(name), name
    assert env["GITHUB_EVENT_PATH"].endswith("event.json")
    assert (second.env["GITHUB_ACTION"], third.env["GITHUB_ACTION"]) == ("__run", "__run_2")
    for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"):
        assert first.env[name] != second.env[name], f"{name} must be fresh per step"


def test_event_path_is_a_real_file_with_the_payload(tmp_path):
    payload = {"pull_request": {"number": 7, "head": {"ref": "topic"}, "base": {"ref": "main"}}}

    class ReadingExecutor:
        """Wraps the fake executor to read the event file while the job runs."""

        name = "reading"

        def __init__(self):
            from conveyor.executors.fake import FakeExecutor

            self.inner = FakeExecutor()
            self.seen = []

        def prepare_job(self, job_key, workspace):
            host = self.inner.prepare_job(job_key, workspace)
            original = host.run

            def run(command):
                with open(command.env["GITHUB_EVENT_PATH"]) as handle:
                    self.seen.append((json.load(handle), dict(command.env)))
                return original(command)

            host.run = run
            return host

    executor = ReadingExecutor()
    run_yaml(
        """
        on: pull_request
        jobs:
          a: {runs-on: x, steps: [{run: "echo ${{ github.event.pull_request.number }}"}]}
        """,
        str(tmp_path),
        executor=executor,
        event_name="pull_request",
        event_payload=payload,
    )
    ((event, env),) = executor.seen
    assert event == payload
    assert (env["GITHUB_HEAD_REF"], env["GITHUB_BASE_REF"]) == ("topic", "main")


def test_working_directory_and_shell_defaults_job_over_workflow(tmp_path):
    (tmp_path / "app" / "sub").mkdir(parents=True)
    outcome = run_yaml(
        """
        on: push
        defaults:
          run:
            shell: sh
            working-directory: app
        jobs:
          a:
            runs-on: x
            defaults:
              run:
                working-directory: app/sub
            steps:
              - run: one
              - run: two
                working-directory: .
                shell: python
              - run: three
                shell: perl {0}
        """,
        str(tmp_path),
    )
    one, two, three = outcome.executor.commands
    assert one.cwd == str(tmp_path / "app" / "sub")
    assert one.argv[:2] == ["sh", "-e"] and one.argv[2].endswith(".sh")
    assert two.cwd == str(tmp_path)
    assert two.argv[0] in ("python", "python3") and two.argv[1].endswith(".py")
    assert three.argv[0] == "perl"


def test_step_name_if_and_contexts(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - id: meta
                name: Build ${{ github.ref_name }} on ${{ runner.os }}
                run: x
                env: {FAKE_GITHUB_OUTPUT: "tag=v1"}
              - if: steps.meta.outputs.tag == 'v1' && job.status == 'success'
                run: echo ${{ steps.meta.outputs.tag }} ${{ secrets.TOKEN }} ${{ vars.V }}
              - if: env.NOPE == 'x'
                run: skipped
        """,
        str(tmp_path),
        secrets={"TOKEN": "tok-secret"},
        variables={"V": "var"},
    )
    job = outcome.events.job("a")
    assert job.step(0).name.startswith("Build feature on ")
    assert job.step(1).status == Status.SUCCESS
    # The script got the secret; the event shows it masked.
    assert job.step(1).command == "echo v1 *** var"
    assert job.step(2).status == Status.SKIPPED


def test_a_step_that_cannot_start_fails_with_the_executor_message(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: x
                env: {FAKE_START_ERROR: "bash: not found"}
              - run: y
        """,
        str(tmp_path),
    )
    step = outcome.events.job("a").step(0)
    assert (step.status, step.reason) == (Status.FAILURE, "bash: not found")
    assert "##[error]bash: not found" in outcome.events.log("a", 0)
    assert outcome.events.job("a").step(1).status == Status.SKIPPED


def test_an_invalid_expression_fails_the_step_with_where_and_what(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: x
                if: fromJSON('{not json')
        """,
        str(tmp_path),
    )
    step = outcome.events.job("a").step(0)
    assert step.status == Status.FAILURE
    assert step.reason and step.reason.startswith("ci.yml:") and "if" in step.reason


def test_malformed_github_output_fails_the_step_clearly(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: x
                env: {FAKE_GITHUB_OUTPUT: "value<<END;no end here"}
        """,
        str(tmp_path),
    )
    step = outcome.events.job("a").step(0)
    assert step.status == Status.FAILURE
    assert "GITHUB_OUTPUT" in (step.reason or "") and "'END'" in (step.reason or "")


def test_summary_annotations_and_masked_outputs(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            outputs:
              leaked: ${{ steps.s.outputs.token }}
            steps:
              - id: s
                run: x
                env:
                  FAKE_GITHUB_STEP_SUMMARY: "## Results;all green, key s3cr3t"
                  FAKE_GITHUB_OUTPUT: "token=s3cr3t"
                  FAKE_OUTPUT: "::notice file=a.py,line=3::note s3cr3t"
        """,
        str(tmp_path),
        secrets={"KEY": "s3cr3t"},
    )
    (summary,) = [e for e in outcome.events.events if isinstance(e, StepSummary)]
    assert summary.markdown == "## Results\nall green, key ***\n"
    (annotation,) = [e for e in outcome.events.events if isinstance(e, Annotation)]
    assert (annotation.level, annotation.file, annotation.line, annotation.message) == (
        "notice",
        "a.py",
        3,
        "note ***",
    )
    assert outcome.result.jobs["a"].steps[0].outputs == {"token": "***"}
    assert outcome.result.jobs["a"].outputs == {"leaked": "***"}


def test_lines_split_across_output_chunks(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: x
                env:
                  FAKE_OUTPUT: "first line\\\\nsecond line\\\\n::group::G\\\\n\\
                    in group\\\\n::endgroup::"
                  FAKE_CHUNK_SIZE: "3"
        """,
        str(tmp_path),
    )
    assert outcome.events.log("a", 0) == [
        "first line",
        "second line",
        "##[group]G",
        "in group",
        "##[endgroup]",
    ]


def test_step_timeout_with_the_fake_executor(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: slow
                timeout-minutes: 0.002
                env: {FAKE_SLEEP: "5"}
              - if: failure()
                run: after
        """,
        str(tmp_path),
    )
    first = outcome.events.job("a").step(0)
    assert (first.status, first.reason) == (Status.FAILURE, "timed out after 0.002 minutes")
    assert outcome.events.job("a").step(1).status == Status.SUCCESS
    assert outcome.result.duration < 2


def test_a_skipped_step_shows_its_evaluated_name(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - name: Deploy ${{ github.ref_name }}
                if: github.ref_name == 'main'
                run: deploy
        """,
        str(tmp_path),
    )
    step = outcome.events.job("a").step(0)
    assert (step.status, step.name) == (Status.SKIPPED, "Deploy feature")


def test_deprecated_set_output_reaches_the_steps_context(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - id: old
                run: x
                env: {FAKE_OUTPUT: "::set-output name=answer::42"}
              - run: echo ${{ steps.old.outputs.answer }}
        """,
        str(tmp_path),
    )
    assert outcome.events.job("a").step(1).command == "echo 42"
    assert [a.level for a in outcome.events.annotations] == ["warning"]
