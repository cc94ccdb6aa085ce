"""A full workflow's execution table reads short: action refs with a 7-character SHA,
one row a job named by the job, tracker columns named by jobs and steps, never SHAs."""

from __future__ import annotations

import json

from conveyor.engine.events import JobFinished, JobStarted, RunFinished, Status
from conveyor.engine.pipeline_status import PipelineTracker, short_uses
from conveyor.workflow.errors import Position
from conveyor.workflow.model import Job, Step, Workflow

HERE = Position("ci.yml", 1, 1)
SHA = "9c09ea8f25fd0e3c4b7b1d0c6c7d2a1b3e4f5a6b"
CHECKOUT = f"actions/checkout@{SHA}"


def two_jobs() -> Workflow:
    build = Job(
        id="build",
        position=HERE,
        name="Build wheels",
        steps=[
            Step(0, HERE, uses=CHECKOUT),
            Step(1, HERE, uses="actions/setup-python@v5"),
            Step(2, HERE, run="pip wheel .\nls dist"),
        ],
    )
    test = Job(
        id="test",
        position=HERE,
        needs=["build"],
        steps=[Step(0, HERE, uses=CHECKOUT), Step(1, HERE, run="pytest -q")],
    )
    return Workflow(path="ci.yml", position=HERE, jobs={"build": build, "test": test})


def test_a_sha_pin_is_cut_to_seven_characters_and_a_tag_kept() -> None:
    assert short_uses(CHECKOUT) == "actions/checkout@9c09ea8"
    assert short_uses("actions/checkout@v4") == "actions/checkout@v4"
    assert short_uses("./.github/actions/setup") == "./.github/actions/setup"
    assert short_uses("docker://alpine:3.20") == "docker://alpine:3.20"


def test_each_job_is_a_row_named_by_the_job_with_what_it_ran_in_short() -> None:
    tracker = PipelineTracker(two_jobs())
    for event in [
        JobStarted("build", "build", "Build wheels"),
        JobFinished("build", "build", Status.SUCCESS, 2.0),
        JobStarted("test", "test", "test"),
        JobFinished("test", "test", Status.SUCCESS, 1.0),
        RunFinished(Status.SUCCESS, 3.0),
    ]:
        tracker.emit(event)

    rows = tracker.table()
    assert [(r.step, r.action, r.command, r.next_step) for r in rows] == [
        (
            "1",
            "Build wheels",
            "actions/checkout@9c09ea8; actions/setup-python@v5; pip wheel .",
            "Proceed to test",
        ),
        ("2", "test", "actions/checkout@9c09ea8; pytest -q", "Pipeline Complete"),
        ("3", "Pipeline End", "-", "No further steps"),
    ]
    assert rows[0].result == "Succeeded in 2.0s"
    assert [column for column, _ in tracker.tracker()] == [
        "Start",
        "After Build wheels",
        "After test",
    ]
    assert SHA not in json.dumps(tracker.snapshot())


def test_a_one_job_workflow_names_a_nameless_action_step_by_its_short_ref() -> None:
    job = Job(
        id="ci",
        position=HERE,
        steps=[Step(0, HERE, uses=CHECKOUT), Step(1, HERE, name="Lint", run="ruff check .")],
    )
    tracker = PipelineTracker(Workflow(path="ci.yml", position=HERE, jobs={"ci": job}))

    rows = tracker.table()
    assert (rows[0].action, rows[0].command) == (
        "actions/checkout@9c09ea8",
        "uses: actions/checkout@9c09ea8",
    )
    assert (rows[1].action, rows[1].command) == ("Lint", "ruff check .")
    assert [column for column, _ in tracker.tracker()] == [
        "Start",
        "After actions/checkout@9c09ea8",
        "After Lint",
    ]


def test_the_snapshot_adds_a_field_and_an_older_snapshot_draws_as_before() -> None:
    snapshot = PipelineTracker(two_jobs()).snapshot()
    assert [stage["seed_wording"] for stage in snapshot["stages"]] == [False, False]
    again = PipelineTracker.from_snapshot(json.loads(json.dumps(snapshot)))
    assert [row.action for row in again.table()] == ["Build wheels", "test", "Pipeline End"]

    # Stored before the field existed: the rows keep the seed's " Stage".
    for stage in snapshot["stages"]:
        del stage["seed_wording"]
    older = PipelineTracker.from_snapshot(snapshot)
    assert [row.action for row in older.table()][:2] == ["Build wheels Stage", "test Stage"]
