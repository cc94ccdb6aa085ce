"""A full workflow's tables fit the width they are given, cutting cells with "…";
the seed's shorthand keeps its table exactly, whatever the width."""

from __future__ import annotations

import io

import pytest

from conveyor.engine.events import JobFinished, JobStarted, RunFinished, Status
from conveyor.engine.pipeline_status import PipelineTracker
from conveyor.terminal.tables import (
    PIPED_WIDTH,
    execution_table_text,
    summary_text,
    table_width,
    tracker_text,
)
from conveyor.workflow.errors import Position
from conveyor.workflow.model import Job, Step, Workflow

HERE = Position("ci.yml", 1, 1)
LONG_RUN = "python -m pytest -q --maxfail=50 --durations=20 tests/unit tests/integration"


def many_jobs(count: int, shorthand: bool = False) -> Workflow:
    jobs = {
        f"job{n}": Job(
            id=f"job{n}",
            position=HERE,
            name=f"Integration tests on platform {n}",
            steps=[Step(0, HERE, uses="actions/checkout@v4"), Step(1, HERE, run=LONG_RUN)],
        )
        for n in range(count)
    }
    return Workflow(path="ci.yml", position=HERE, jobs=jobs, shorthand=shorthand)


def finished(workflow: Workflow) -> PipelineTracker:
    tracker = PipelineTracker(workflow)
    for job_id in workflow.jobs:
        tracker.emit(JobStarted(job_id, job_id, job_id))
        tracker.emit(JobFinished(job_id, job_id, Status.SUCCESS, 1.0))
    tracker.emit(RunFinished(Status.SUCCESS, 2.0))
    return tracker


def test_a_full_workflows_table_is_cut_to_the_width_with_an_ellipsis() -> None:
    tracker = finished(many_jobs(2))
    wide = execution_table_text(tracker)
    assert max(len(line) for line in wide.splitlines()) > 100

    text = execution_table_text(tracker, 100)

    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert lines[0].split() == ["Step", "Action", "Command", "Run", "Result", "Next", "Step"]
    first = lines[2]
    assert first.startswith("1     Integration tests")
    assert "…" in first and "Succeeded in 1.0s" in first
    # Cut, not wrapped: one line a row.
    assert len(lines) == 2 + 3


def test_a_tracker_too_wide_to_read_across_is_drawn_down() -> None:
    tracker = finished(many_jobs(4))

    lines = tracker_text(tracker, 80).splitlines()

    assert max(len(line) for line in lines) <= 80
    assert lines[0].split() == ["After", "pipeline_status"]
    assert lines[2].split() == ["Start", "Not", "started"]
    assert lines[3].startswith("After Integration tests on platform 0")
    assert len(lines) == 2 + 5


def test_the_seed_shorthand_is_never_cut() -> None:
    tracker = finished(many_jobs(1, shorthand=True))
    assert summary_text(tracker, 40) == summary_text(tracker)
    assert f"Run {LONG_RUN} Stage" in summary_text(tracker, 40)
    assert "Run actions/checkout@v4 Stage" in summary_text(tracker, 40)


def test_piped_output_is_fitted_to_a_hundred_columns_unless_columns_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert table_width(io.StringIO()) == PIPED_WIDTH == 100
    monkeypatch.setenv("COLUMNS", "132")
    assert table_width(io.StringIO()) == 132
