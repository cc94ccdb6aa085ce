"""Job plans: the scheduler describes every job instance as JSON, and a job run from
that JSON alone (as a worker on another machine runs it) does what the in-process
job does: matrices, needs outputs, reusable workflows, secrets, masking."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conveyor.engine.events import JobFinished, LogLines, Status
from conveyor.engine.job_from_plan import LocalSide, run_planned_job
from conveyor.engine.plan import (
    CalledPlan,
    JobOutcome,
    JobPlan,
    PlanUnreadable,
    RunPlan,
    WorkflowFile,
)
from conveyor.engine.results import JobResult, StepResult
from conveyor.engine.runner import RunOptions, run_workflow
from conveyor.executors.local import LocalExecutor
from conveyor.workflow.load import parse_workflow
from tests.engine.helpers import GIT, EventLog

CALLER = """\
    on: push
    jobs:
      build:
        runs-on: ubuntu-latest
        strategy:
          matrix:
            python: ["3.11", "3.12"]
        outputs:
          built: ${{ steps.make.outputs.built }}
        steps:
          - id: make
            run: |
              # The same from every leg: `needs` merges the legs in the order they end.
              echo "built=wheel-${{ strategy.job-total }}" >> "$GITHUB_OUTPUT"
              echo "token is ${{ secrets.TOKEN }}"
              echo "index ${{ strategy.job-index }} of ${{ strategy.job-total }}"
      test:
        needs: build
        runs-on: [self-hosted, linux]
        steps:
          - run: echo "testing ${{ needs.build.outputs.built }} with ${{ inputs.level || 'none' }}"
          - run: echo "::add-mask::hush" && echo "say hush"
      call:
        needs: [build, test]
        uses: ./.github/workflows/called.yml
        with:
          word: ${{ needs.build.outputs.built }}
        secrets:
          token: ${{ secrets.TOKEN }}
      after:
        needs: call
        runs-on: ubuntu-latest
        steps:
          - run: echo "the call said ${{ needs.call.outputs.said }}"
    """

CALLED = """\
    on:
      workflow_call:
        inputs:
          word: {type: string, required: true}
        secrets:
          token: {required: true}
        outputs:
          said:
            value: ${{ jobs.inner.outputs.said }}
    jobs:
      inner:
        runs-on: ubuntu-latest
        outputs:
          said: ${{ steps.say.outputs.said }}
        steps:
          - id: say
            run: |
              echo "said=${{ inputs.word }}!" >> "$GITHUB_OUTPUT"
              echo "called token ${{ secrets.token }}"
    """


class JsonLauncher:
    """Sends each plan through JSON text and runs it from that alone, as a worker does."""

    def __init__(self, workspace: str, store: str) -> None:
        self.local = LocalSide(workspace=workspace, store_dir=store)
        self.executor = LocalExecutor()
        self.plans: list[JobPlan] = []

    def run_job(self, plan, cancellation, emit):
        received = JobPlan.from_json(json.loads(json.dumps(plan.to_json())))
        assert received == plan
        self.plans.append(received)

        def emit_through_json(event):
            from conveyor.engine.events import event_from_json

            emit(event_from_json(json.loads(json.dumps(event.to_json()))))

        outcome = run_planned_job(
            received, self.local, self.executor, emit_through_json, cancellation
        )
        return JobOutcome.from_json(json.loads(json.dumps(outcome.to_json())))


def _workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "repo"
    workflows = workspace / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(textwrap.dedent(CALLER))
    (workflows / "called.yml").write_text(textwrap.dedent(CALLED))
    return workspace


def _run(workspace: Path, launcher=None):
    workflow = parse_workflow(textwrap.dedent(CALLER), ".github/workflows/ci.yml")
    options = RunOptions(
        workspace=str(workspace),
        git=GIT,
        secrets={"TOKEN": "s3cr3t-value"},
        max_parallel_jobs=4,
        store_dir=str(workspace.parent / "store"),
    )
    sink = EventLog()
    result = run_workflow(workflow, options, LocalExecutor(), sink, launcher=launcher)
    return result, sink


def _log(sink: EventLog) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for event in sink.events:
        if isinstance(event, LogLines):
            lines.setdefault(event.job_key, []).extend(event.lines())
    return lines


def test_a_run_whose_jobs_run_from_json_plans_ends_as_the_in_process_run(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    here, here_sink = _run(workspace)
    launcher = JsonLauncher(str(workspace), str(tmp_path / "store"))
    planned, planned_sink = _run(workspace, launcher)

    assert here.status == Status.SUCCESS, here.reason
    assert planned.status == Status.SUCCESS, planned.reason
    assert list(planned.jobs) == list(here.jobs)
    for key, job in here.jobs.items():
        other = planned.jobs[key]
        assert (other.status, other.outputs, other.name, other.matrix) == (
            job.status,
            job.outputs,
            job.name,
            job.matrix,
        )
        assert [s.name for s in other.steps] == [s.name for s in job.steps]
    assert _log(planned_sink) == _log(here_sink)
    text = "\n".join(line for lines in _log(planned_sink).values() for line in lines)
    assert "testing wheel-2 with none" in text
    assert "the call said wheel-" in text
    assert "s3cr3t-value" not in text and "token is ***" in text and "called token ***" in text
    assert "say ***" in text
    # One plan per job instance, the called job's naming its workflow and caller.
    keys = sorted(plan.job_key for plan in launcher.plans)
    assert keys == ["after", "build (3.11)", "build (3.12)", "call / inner", "test"]
    inner = next(plan for plan in launcher.plans if plan.job_key == "call / inner")
    assert inner.called is not None and inner.called.top_job_id == "call"
    assert inner.called.workflow.path.endswith("called.yml")
    assert inner.called.secrets == {"token": "s3cr3t-value"}
    test = next(plan for plan in launcher.plans if plan.job_key == "test")
    assert test.labels == ["self-hosted", "linux"]
    assert test.needs["build"]["outputs"]["built"].startswith("wheel-")


def test_a_plan_round_trips_through_json_text() -> None:
    plan = JobPlan(
        run=RunPlan(
            workflow=WorkflowFile("ci.yml", "on: push\n"),
            git={"sha": "a" * 40, "ref": "refs/heads/main"},
            secrets={"K": "v"},
            services={"db": "127.0.0.1:5432"},
            max_step_log_bytes=None,
        ),
        job_id="test",
        job_key="test (1)",
        name="test (1)",
        matrix={"n": 1, "deep": {"x": [1, 2]}},
        strategy={"job-index": 0, "job-total": 1},
        needs={"build": {"result": "success", "outputs": {"a": "b"}}},
        called=CalledPlan(WorkflowFile("c.yml", "x"), {"i": True}, {"s": "t"}, "call"),
        labels=["linux"],
    )
    assert JobPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    assert plan.run.git_info().sha == "a" * 40


def test_an_outcome_round_trips_through_json_text() -> None:
    outcome = JobOutcome(
        JobResult(
            job_key="k",
            job_id="k",
            name="k",
            status=Status.FAILURE,
            steps=[StepResult(0, "s", "Run x", Status.FAILURE, Status.FAILURE, 0.5, 1)],
            reason="step failed",
        ),
        {"out": "raw"},
    )
    back = JobOutcome.from_json(json.loads(json.dumps(outcome.to_json())))
    assert back == outcome
    assert back.result.status is Status.FAILURE and back.result.steps[0].outcome is Status.FAILURE


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([], "a JSON object"),
        ({"format": 99}, "format 99"),
        ({"format": 1, "run": {}}, "without what it needs"),
        ({"format": 1, "job_id": "a", "job_key": "a", "name": "a", "run": 3}, "without"),
        (
            {"format": 1, "job_id": "a", "job_key": "a", "name": "a", "extra": 1, "run": {}},
            "no field extra",
        ),
    ],
)
def test_an_unreadable_plan_says_why(data, says: str) -> None:
    with pytest.raises(PlanUnreadable, match=says):
        JobPlan.from_json(data)


def test_a_plan_whose_workflow_no_longer_parses_fails_its_job_with_the_reason(
    tmp_path: Path,
) -> None:
    plan = JobPlan(
        run=RunPlan(workflow=WorkflowFile("ci.yml", "jobs: [\n"), git={}),
        job_id="build",
        job_key="build",
        name="build",
    )
    events = []
    outcome = run_planned_job(
        plan, LocalSide(workspace=str(tmp_path)), LocalExecutor(), events.append, _cancellation()
    )
    assert outcome.result.status == Status.FAILURE
    assert "the job's workflow cannot be read" in (outcome.result.reason or "")
    assert "ci.yml:" in (outcome.result.reason or "")
    assert isinstance(events[-1], JobFinished) and events[-1].status == Status.FAILURE


def _cancellation():
    from conveyor.executors.base import Cancellation

    return Cancellation()
