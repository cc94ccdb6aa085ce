"""What sinks receive: one emit at a time, per-job order, cancel from a sink, debug lines."""

from __future__ import annotations

import threading
import time

from conveyor.engine.events import (
    Event,
    JobFinished,
    JobStarted,
    LogLines,
    RunFinished,
    RunStarted,
    Status,
    StepFinished,
    StepStarted,
)
from conveyor.engine.runner import RunOptions, run_workflow
from conveyor.executors.base import Cancellation
from conveyor.executors.fake import FakeExecutor
from conveyor.workflow.load import parse_workflow
from tests.engine.helpers import GIT, run_yaml

PARALLEL = """
on: push
jobs:
  one:
    runs-on: x
    steps:
      - {run: a, env: {FAKE_OUTPUT: "a1\\\\na2\\\\na3", FAKE_CHUNK_SIZE: "2"}}
      - {run: b, env: {FAKE_SLEEP: "0.05"}}
  two:
    runs-on: x
    steps:
      - {run: a, env: {FAKE_OUTPUT: "b1\\\\nb2\\\\nb3", FAKE_CHUNK_SIZE: "2"}}
      - {run: b, env: {FAKE_SLEEP: "0.05"}}
  three:
    runs-on: x
    steps:
      - {run: a, env: {FAKE_OUTPUT: "c1\\\\nc2\\\\nc3", FAKE_CHUNK_SIZE: "2"}}
"""


class OverlapDetector:
    """Fails if two threads are inside ``emit`` at once; emit is slow to make overlap likely."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.overlaps = 0
        self._inside = threading.Lock()

    def emit(self, event: Event) -> None:
        if not self._inside.acquire(blocking=False):
            self.overlaps += 1
            self._inside.acquire()
        try:
            time.sleep(0.001)
            self.events.append(event)
        finally:
            self._inside.release()


def test_events_come_one_at_a_time_and_in_order_per_job(tmp_path):
    sink = OverlapDetector()
    workflow = parse_workflow(PARALLEL, "ci.yml")
    options = RunOptions(workspace=str(tmp_path), git=GIT, max_parallel_jobs=3)
    run_workflow(workflow, options, FakeExecutor(), sink)
    assert sink.overlaps == 0
    assert isinstance(sink.events[0], RunStarted) and isinstance(sink.events[-1], RunFinished)
    for key in ("one", "two", "three"):
        mine = [e for e in sink.events if getattr(e, "job_key", None) == key]
        assert isinstance(mine[0], JobStarted) and isinstance(mine[-1], JobFinished)
        steps = [e for e in mine if isinstance(e, StepStarted | StepFinished)]
        kinds = [(type(e).__name__, e.step) for e in steps]
        expected = [("StepStarted", 0), ("StepFinished", 0)]
        if key != "three":
            expected += [("StepStarted", 1), ("StepFinished", 1)]
        assert kinds == expected
        text = [line for e in mine if isinstance(e, LogLines) for line in e.lines()]
        prefix = {"one": "a", "two": "b", "three": "c"}[key]
        assert text == [f"{prefix}{n}" for n in (1, 2, 3)]


def test_a_sink_may_cancel_the_run_and_always_jobs_still_run(tmp_path):
    cancellation = Cancellation()

    class CancelOnFirstStep:
        def __init__(self) -> None:
            self.events: list[Event] = []

        def emit(self, event: Event) -> None:
            self.events.append(event)
            if isinstance(event, StepStarted) and event.job_key == "build":
                cancellation.cancel()

    workflow = parse_workflow(
        """
        on: push
        jobs:
          build:
            runs-on: x
            steps: [{run: b, env: {FAKE_SLEEP: "5"}}]
          deploy:
            needs: build
            runs-on: x
            steps: [{run: d}]
          notify:
            needs: build
            if: always()
            runs-on: x
            steps: [{run: n}]
        """.replace("\n        ", "\n"),
        "ci.yml",
    )
    sink = CancelOnFirstStep()
    started = time.monotonic()
    result = run_workflow(
        workflow, RunOptions(workspace=str(tmp_path), git=GIT), FakeExecutor(), sink, cancellation
    )
    assert time.monotonic() - started < 3
    assert result.status == Status.CANCELLED
    assert {key: job.status for key, job in result.jobs.items()} == {
        "build": Status.CANCELLED,
        "deploy": Status.CANCELLED,
        "notify": Status.SUCCESS,
    }


def test_debug_lines_follow_actions_step_debug(tmp_path):
    text = """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: x
                env: {FAKE_OUTPUT: "::debug::details here\\\\nplain"}
        """
    quiet = run_yaml(text, str(tmp_path), base_env={})
    assert quiet.events.log("a", 0) == ["plain"]
    assert "RUNNER_DEBUG" not in quiet.executor.commands[0].env
    loud = run_yaml(text, str(tmp_path), base_env={}, secrets={"ACTIONS_STEP_DEBUG": "true"})
    assert loud.events.log("a", 0) == ["##[debug]details here", "plain"]
    assert loud.executor.commands[0].env["RUNNER_DEBUG"] == "1"
