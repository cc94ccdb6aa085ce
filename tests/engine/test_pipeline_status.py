"""The seed's execution table and pipeline-status tracker, from a run's events."""

from __future__ import annotations

import json

import pytest

from conveyor.engine.events import (
    JobFinished,
    JobStarted,
    LogLines,
    RunFinished,
    Status,
    StepFinished,
    StepStarted,
)
from conveyor.engine.pipeline_status import PipelineTracker, failure_phrase, success_phrase
from conveyor.workflow.errors import Position
from conveyor.workflow.model import Job, Step, Workflow

HERE = Position("seed.yml", 1, 1)
SEED = [
    ("Build", "python manage.py collectstatic --noinput"),
    ("Test", "python manage.py test"),
    ("Deploy", 'echo "Deploying to server..."'),
]


def seed_workflow() -> Workflow:
    steps = [Step(index=i, position=HERE, name=n, run=r) for i, (n, r) in enumerate(SEED)]
    job = Job(id="pipeline", position=HERE, steps=steps)
    return Workflow(path="seed.yml", position=HERE, jobs={"pipeline": job}, shorthand=True)


def build_and_test_workflow() -> Workflow:
    build = Job(id="build", position=HERE, steps=[Step(0, HERE, run="make")])
    test = Job(id="test", position=HERE, needs=["build"], steps=[Step(0, HERE, run="make check")])
    return Workflow(path="ci.yml", position=HERE, jobs={"build": build, "test": test})


def step_events(index: int, status: Status, last_line: str = "done") -> list:
    name, command = SEED[index]
    events: list = []
    if status != Status.SKIPPED:
        events.append(StepStarted("pipeline", index, name, command))
        events.append(LogLines("pipeline", index, f"working\n{last_line}"))
    exit_code = 1 if status == Status.FAILURE else 0
    duration = 1.5 if events else 0
    events.append(StepFinished("pipeline", index, name, status, status, duration, exit_code))
    return events


def feed(tracker: PipelineTracker, events: list) -> None:
    for event in events:
        tracker.emit(event)


def test_the_seed_table_and_tracker_after_a_good_run() -> None:
    tracker = PipelineTracker(seed_workflow())
    assert tracker.pipeline_status == "Not started"
    feed(tracker, step_events(0, Status.SUCCESS, "1 static file copied"))
    assert tracker.pipeline_status == "Build successful"
    feed(tracker, step_events(1, Status.SUCCESS, "OK"))
    feed(tracker, step_events(2, Status.SUCCESS, "Deploying to server..."))
    tracker.emit(RunFinished(Status.SUCCESS, 4.5))

    assert tracker.tracker() == [
        ("Start", "Not started"),
        ("After Build", "Build successful"),
        ("After Test", "Tests passed"),
        ("After Deploy", "Deployed"),
    ]
    rows = tracker.table()
    assert [(r.step, r.action, r.command, r.next_step) for r in rows] == [
        ("1", "Build Stage", SEED[0][1], "Proceed to Test Stage"),
        ("2", "Test Stage", SEED[1][1], "Proceed to Deploy Stage"),
        ("3", "Deploy Stage", SEED[2][1], "Pipeline Complete"),
        ("4", "Pipeline End", "-", "No further steps"),
    ]
    assert rows[0].result == "Succeeded in 1.5s: 1 static file copied"


def test_a_failed_test_stops_the_tracker_and_skips_deploy() -> None:
    tracker = PipelineTracker(seed_workflow())
    feed(tracker, step_events(0, Status.SUCCESS))
    feed(tracker, step_events(1, Status.FAILURE, "FAILED (failures=1)"))
    feed(tracker, step_events(2, Status.SKIPPED))
    tracker.emit(RunFinished(Status.FAILURE, 3.0))

    assert [value for _, value in tracker.tracker()] == [
        "Not started",
        "Build successful",
        "Test failed",
        "Test failed",
    ]
    rows = tracker.table()
    assert rows[1].result == "Failed in 1.5s (exit code 1): FAILED (failures=1)"
    assert rows[1].next_step == "Pipeline stopped"
    assert (rows[2].result, rows[2].next_step) == ("Skipped", "Not run")
    assert rows[3].next_step == "Stopped: Test failed"


def test_jobs_are_the_stages_of_a_multi_job_workflow() -> None:
    tracker = PipelineTracker(build_and_test_workflow())
    feed(
        tracker,
        [
            JobStarted("build", "build", "build"),
            JobFinished("build", "build", Status.SUCCESS, 2.0),
            JobStarted("test (1)", "test", "test (1)", {"n": 1}),
            JobStarted("test (2)", "test", "test (2)", {"n": 2}),
            JobFinished("test (2)", "test", Status.FAILURE, 1.2, reason="exit code 1"),
        ],
    )
    # A matrix stage runs on while any of its combinations does.
    assert tracker.stages[1].status == Status.RUNNING
    assert tracker.pipeline_status == "test running"
    feed(
        tracker,
        [JobFinished("test (1)", "test", Status.SUCCESS, 1.0), RunFinished(Status.FAILURE, 3.3)],
    )
    assert [s.name for s in tracker.stages] == ["build", "test"]
    assert tracker.stages[1].parts == 2 and tracker.stages[1].failed_parts == 1
    assert tracker.pipeline_status == "Test failed"
    assert tracker.table()[0].next_step == "Proceed to test"


def test_stage_names_choose_the_seed_wording() -> None:
    assert success_phrase("Run unit tests") == "Tests passed"
    assert success_phrase("Deploy to production") == "Deployed"
    assert success_phrase("Package") == "Package succeeded"
    assert failure_phrase("Build wheels") == "Build failed"


def test_the_result_prefers_a_line_that_sums_the_stage_up() -> None:
    tracker = PipelineTracker(seed_workflow())
    django_tail = "Ran 2 tests in 0.009s\n\nOK\nDestroying test database for alias 'default'..."
    feed(tracker, step_events(0, Status.SUCCESS, "128 static files copied to '/srv/static'."))
    feed(tracker, step_events(1, Status.SUCCESS, django_tail))
    feed(tracker, step_events(2, Status.SUCCESS, "Deploying to server..."))
    results = [row.result for row in tracker.table()[:3]]
    assert results == [
        "Succeeded in 1.5s: 128 static files copied to '/srv/static'.",
        "Succeeded in 1.5s: Ran 2 tests in 0.009s",
        "Succeeded in 1.5s: Deploying to server...",
    ]


def test_the_snapshot_is_the_tables_as_json() -> None:
    tracker = PipelineTracker(seed_workflow())
    feed(tracker, step_events(0, Status.SUCCESS, "1 static file copied"))
    feed(tracker, [StepStarted("pipeline", 1, "Test", "python manage.py test")])
    feed(tracker, [LogLines("pipeline", 1, "Ran 3 tests in 0.1s")])

    snapshot = json.loads(json.dumps(tracker.snapshot()))

    assert snapshot["tracker"] == [[column, value] for column, value in tracker.tracker()]
    rows = tracker.table()
    assert [row["action"] for row in snapshot["table"]] == [row.action for row in rows]
    assert [row["result"] for row in snapshot["table"]] == [row.result for row in rows]
    assert [row["next_step"] for row in snapshot["table"]] == [row.next_step for row in rows]
    # Each row is drawn in its stage's status; Pipeline End in the run's (queued until it ends).
    assert [row["status"] for row in snapshot["table"]] == [
        "success",
        "running",
        "queued",
        "queued",
    ]
    assert [(stage["name"], stage["status"]) for stage in snapshot["stages"]] == [
        ("Build", "success"),
        ("Test", "running"),
        ("Deploy", "queued"),
    ]
    assert snapshot["stages"][1]["summary_line"] == "Ran 3 tests in 0.1s"
    tracker.emit(RunFinished(Status.FAILURE, 2.0))
    assert tracker.snapshot()["table"][-1]["status"] == "failure"


def test_a_started_steps_command_is_its_evaluated_first_line_and_uses_keeps_its_wording() -> None:
    steps = [
        Step(index=0, position=HERE, name="Build", run="make ${{ matrix.target }}\nmake install"),
        Step(index=1, position=HERE, name="Checkout", uses="actions/checkout@v4"),
    ]
    job = Job(id="pipeline", position=HERE, steps=steps)
    tracker = PipelineTracker(Workflow(path="w.yml", position=HERE, jobs={"pipeline": job}))
    assert [stage.command for stage in tracker.stages] == [
        "make ${{ matrix.target }} …",
        "uses: actions/checkout@v4",
    ]
    tracker.emit(StepStarted("pipeline", 0, "Build", "make all\nmake install"))
    tracker.emit(StepStarted("pipeline", 1, "Checkout", "actions/checkout@v4"))
    assert [row.command for row in tracker.table()[:2]] == [
        "make all …",
        "uses: actions/checkout@v4",
    ]


def test_a_snapshot_restores_the_tracker_that_drew_it() -> None:
    tracker = PipelineTracker(seed_workflow())
    feed(tracker, step_events(0, Status.SUCCESS, "12 files copied"))
    feed(tracker, [StepStarted("pipeline", 1, "Test", "python manage.py test")])
    snapshot = json.loads(json.dumps(tracker.snapshot()))
    assert PipelineTracker.from_snapshot(snapshot).snapshot() == snapshot


def test_settling_a_run_that_stopped_short_ends_what_ran_and_skips_the_rest() -> None:
    tracker = PipelineTracker(seed_workflow())
    feed(tracker, step_events(0, Status.SUCCESS))
    feed(tracker, [StepStarted("pipeline", 1, "Test", "python manage.py test")])
    restored = PipelineTracker.from_snapshot(tracker.snapshot())
    restored.settle(Status.FAILURE, "the server stopped")
    rows = restored.table()
    assert [row.result for row in rows[1:]] == ["Failed: the server stopped", "Skipped", "-"]
    assert [row.next_step for row in rows[1:]] == [
        "Pipeline stopped",
        "Not run",
        "Stopped: Test failed",
    ]
    cancelled = PipelineTracker.from_snapshot(tracker.snapshot())
    cancelled.settle(Status.CANCELLED)
    assert cancelled.pipeline_status == "Test cancelled"


@pytest.mark.parametrize(
    "bad", [{}, {"stages": [{"name": "x"}], "table": [{"status": "queued"}]}, {"stages": 3}]
)
def test_what_is_not_a_snapshot_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="not a snapshot"):
        PipelineTracker.from_snapshot(bad)


@pytest.mark.parametrize(
    ("batch", "last", "summary"),
    [
        ("one\ntwo\nthree", "three", ""),
        # Blank and ##[ lines at the end, more of them than the few looked at first.
        ("Ran 4 tests in 0.2s\n\nOK" + "\n##[endgroup]\n   " * 12, "OK", "Ran 4 tests in 0.2s"),
        ("\n".join(str(n) for n in range(1, 500)), "499", ""),
        ("collected 3 items\n3 passed in 0.1s\nbye", "bye", "3 passed in 0.1s"),
    ],
    ids=["plain", "markers at the end", "many short lines", "summary before chatter"],
)
def test_a_stage_remembers_its_last_line_and_its_summary(batch, last, summary) -> None:
    tracker = PipelineTracker(seed_workflow())
    feed(tracker, [StepStarted("pipeline", 0, "Build", "make"), LogLines("pipeline", 0, batch)])
    stage = tracker.stages[0]
    assert (stage.last_line, stage.summary_line) == (last, summary)
