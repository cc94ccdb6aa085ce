"""The engine driving real processes (LocalExecutor, bash): files, masking, timeouts, cancel."""

from __future__ import annotations

import os
import threading
import time

import psutil
import pytest

from conveyor.engine.events import Status, StepSummary
from conveyor.executors.base import Cancellation
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import run_yaml


def run_local(text: str, workspace, **options):
    return run_yaml(text, str(workspace), executor=LocalExecutor(), **options)


def wait_for_file(path, seconds: float = 5.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = path.read_text().strip() if os.path.exists(path) else ""
        if text:
            return text
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


def assert_process_gone(pid: int) -> None:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} is still running")


def test_output_env_path_and_summary_files(tmp_path):
    outcome = run_local(
        """
        on: push
        jobs:
          a:
            runs-on: x
            outputs:
              notes: ${{ steps.files.outputs.notes }}
            steps:
              - id: files
                run: |
                  echo "version=2.0" >> "$GITHUB_OUTPUT"
                  {
                    echo "notes<<EOF"
                    echo "line one"
                    echo "line two"
                    echo "EOF"
                  } >> "$GITHUB_OUTPUT"
                  echo "GREETING=hello there" >> "$GITHUB_ENV"
                  mkdir -p "$RUNNER_TEMP/bin"
                  printf '#!/bin/sh\\necho tool ran\\n' > "$RUNNER_TEMP/bin/mytool"
                  chmod +x "$RUNNER_TEMP/bin/mytool"
                  echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
                  echo "### Done :rocket:" >> "$GITHUB_STEP_SUMMARY"
              - run: |
                  echo "greeting: $GREETING"
                  mytool
                  echo "version: ${{ steps.files.outputs.version }}"
        """,
        tmp_path,
    )
    assert outcome.result.status == Status.SUCCESS
    assert outcome.result.jobs["a"].steps[0].outputs == {
        "version": "2.0",
        "notes": "line one\nline two",
    }
    assert outcome.result.jobs["a"].outputs == {"notes": "line one\nline two"}
    assert outcome.events.log("a", 1) == ["greeting: hello there", "tool ran", "version: 2.0"]
    (summary,) = [e for e in outcome.events.events if isinstance(e, StepSummary)]
    assert summary.markdown == "### Done :rocket:\n"


def test_default_env_and_event_file_seen_by_bash(tmp_path):
    outcome = run_local(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: |
                  echo "$CI $GITHUB_ACTIONS $GITHUB_REPOSITORY $GITHUB_JOB"
                  cat "$GITHUB_EVENT_PATH"; echo
                  pwd
        """,
        tmp_path,
        event_payload={"ref": "refs/heads/feature"},
    )
    assert outcome.events.log("a", 0) == [
        "true true acme/widgets a",
        '{"ref": "refs/heads/feature"}',
        str(tmp_path),
    ]


def test_secrets_and_add_mask_are_hidden_in_this_and_later_jobs(tmp_path):
    outcome = run_local(
        """
        on: push
        jobs:
          a:
            runs-on: x
            outputs:
              generated: ${{ steps.gen.outputs.value }}
            steps:
              - id: gen
                run: |
                  echo "secret is $TOKEN"
                  echo "::add-mask::generated-42"
                  echo "value=generated-42" >> "$GITHUB_OUTPUT"
                  echo "made generated-42"
                  printf 'multi: %s\\n' "$MULTI"
                env:
                  TOKEN: ${{ secrets.TOKEN }}
                  MULTI: ${{ secrets.MULTI }}
          b:
            needs: a
            runs-on: x
            steps:
              - name: Use ${{ needs.a.outputs.generated }}
                run: echo "got ${{ needs.a.outputs.generated }} and $T"
                env:
                  T: ${{ secrets.TOKEN }}
        """,
        tmp_path,
        secrets={"TOKEN": "tk-9f8e7d", "MULTI": "alpha-line\nbeta-line"},
    )
    log_a = outcome.events.log("a", 0)
    assert log_a[0] == "secret is ***"
    assert "made ***" in log_a
    assert "multi: ***" in log_a
    hidden = ("tk-9f8e7d", "generated-42", "alpha-line", "beta-line")
    assert not [line for line in log_a if any(value in line for value in hidden)]
    assert outcome.events.log("b", 0) == ["got *** and ***"]
    assert outcome.events.job("b").step(0).name == "Use ***"
    assert outcome.events.job("b").step(0).command == 'echo "got *** and $T"'


def test_step_timeout_kills_the_process_tree(tmp_path):
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    outcome = run_local(
        f"""
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: |
                  sleep 300 &
                  echo $! > {pid_file}
                  wait
                timeout-minutes: 0.005
              - if: always()
                run: echo after
        """,
        tmp_path,
    )
    assert time.monotonic() - started < 5
    step = outcome.events.job("a").step(0)
    assert (step.status, step.reason) == (Status.FAILURE, "timed out after 0.005 minutes")
    assert outcome.events.log("a", 1) == ["after"]
    assert_process_gone(int(pid_file.read_text()))


def test_job_timeout_fails_the_job_and_stops_its_steps(tmp_path):
    outcome = run_local(
        """
        on: push
        jobs:
          a:
            runs-on: x
            timeout-minutes: 0.005
            steps:
              - run: sleep 30
              - run: echo never
              - if: always()
                run: echo cleanup
        """,
        tmp_path,
    )
    job = outcome.result.jobs["a"]
    assert (job.status, job.reason) == (Status.FAILURE, "timed out after 0.005 minutes")
    assert [s.status for s in job.steps] == [Status.FAILURE, Status.SKIPPED, Status.SUCCESS]


def test_cancellation_kills_the_step_skips_the_rest_and_runs_always_steps(tmp_path):
    pid_file = tmp_path / "child.pid"
    cleanup_file = tmp_path / "cleanup.txt"
    cancellation = Cancellation()
    result: dict = {}

    def run() -> None:
        result["outcome"] = run_local(
            f"""
            on: push
            jobs:
              a:
                runs-on: x
                steps:
                  - run: |
                      sleep 300 &
                      echo $! > {pid_file}
                      wait
                  - run: echo skipped
                  - if: always()
                    run: echo cleaned > {cleanup_file}
                  - if: cancelled()
                    run: echo "saw cancel"
              later:
                needs: a
                runs-on: x
                steps: [{{run: echo never}}]
            """,
            tmp_path,
            cancellation=cancellation,
        )

    thread = threading.Thread(target=run)
    thread.start()
    pid = int(wait_for_file(pid_file))
    cancellation.cancel()
    thread.join(10)
    assert not thread.is_alive()
    outcome = result["outcome"]
    assert outcome.result.status == Status.CANCELLED
    steps = outcome.result.jobs["a"].steps
    assert [s.status for s in steps] == [
        Status.CANCELLED,
        Status.SKIPPED,
        Status.SUCCESS,
        Status.SUCCESS,
    ]
    assert cleanup_file.read_text() == "cleaned\n"
    assert outcome.result.jobs["a"].status == Status.CANCELLED
    assert outcome.result.jobs["later"].status == Status.CANCELLED
    assert_process_gone(pid)
    assert not [t for t in threading.enumerate() if t.name.startswith("job ")]


def test_shells_python_and_errors_that_stop_a_step_from_starting(tmp_path):
    outcome = run_local(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - shell: python
                run: |
                  import sys
                  print("python", sys.version_info[0])
              - shell: bash
                run: false | true
              - if: always()
                run: echo x
                working-directory: does/not/exist
              - if: always()
                run: echo x
                shell: no-such-shell-binary {0}
        """,
        tmp_path,
    )
    steps = outcome.result.jobs["a"].steps
    assert outcome.events.log("a", 0) == ["python 3"]
    # bash -o pipefail: the failing `false` fails the pipeline.
    assert steps[1].status == Status.FAILURE and steps[1].exit_code == 1
    assert steps[2].status == Status.FAILURE and "does/not/exist" in (steps[2].reason or "")
    assert steps[3].status == Status.FAILURE and "no-such-shell-binary" in (steps[3].reason or "")
    assert any(line.startswith("##[error]") for line in outcome.events.log("a", 3))


def test_large_output_arrives_whole_and_in_few_events(tmp_path):
    outcome = run_local(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: seq 1 200000
        """,
        tmp_path,
    )
    lines = outcome.events.log("a", 0)
    assert lines == [str(n) for n in range(1, 200001)]
    log_events = outcome.events.job("a").step(0).log_events
    # One event per chunk read from the pipe, not one per line.
    assert log_events < len(lines) / 100


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_set_e_stops_the_script_at_the_first_failure(tmp_path, shell):
    outcome = run_local(
        f"""
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - shell: {shell}
                run: |
                  echo before
                  exit 4
                  echo not reached
        """,
        tmp_path,
    )
    assert outcome.events.log("a", 0)[:1] == ["before"]
    assert outcome.result.jobs["a"].steps[0].exit_code == 4
