"""The live view marks every job's lines with ``[job]`` and a start and end line,
the first job's as much as the ones after it."""

from __future__ import annotations

import io

from rich.console import Console

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
from conveyor.terminal.live import LiveSink


def job_events(job: str, line: str) -> tuple[list[Event], list[Event]]:
    """A job's events up to its output, and from its step's end on."""
    return (
        [
            JobStarted(job, job, job),
            StepStarted(job, 0, "Work", f"make {job}"),
            LogLines(job, 0, line),
        ],
        [
            StepFinished(job, 0, "Work", Status.SUCCESS, Status.SUCCESS, 0.5, 0),
            JobFinished(job, job, Status.SUCCESS, 0.6),
        ],
    )


def test_each_job_has_its_prefix_and_its_start_and_end_lines() -> None:
    out = io.StringIO()
    sink = LiveSink(Console(file=out, width=200, color_system=None, force_terminal=False))
    build_start, build_end = job_events("build", "compiling")
    test_start, test_end = job_events("test", "testing")
    events: list[Event] = [
        RunStarted("CI", "ci.yml", "push", "refs/heads/main", "a" * 40, ["build", "test"]),
        # build runs alone first, then test starts while build still prints
        *build_start,
        *test_start,
        LogLines("build", 0, "linking"),
        *build_end,
        *test_end,
        RunFinished(Status.SUCCESS, 1.2),
    ]
    for event in events:
        sink.emit(event)
    sink.close()
    lines = [line.rstrip() for line in out.getvalue().splitlines()]

    for job, said in (("build", ["compiling", "linking"]), ("test", ["testing"])):
        mine = [line for line in lines if line.startswith(f"[{job}] ")]
        assert mine[0] == f"[{job}] job started", lines
        assert mine[1] == f"[{job}] ▶ Work  make {job}", lines
        assert mine[2 : 2 + len(said)] == [f"[{job}] │ {text}" for text in said], lines
        assert mine[-2] == f"[{job}] ✓ Work (0.50s)", lines
        assert mine[-1] == f"[{job}] ✓ job success in 0.60s", lines
    unmarked = [line for line in lines[1:] if line and not line.startswith("[")]
    assert unmarked == [], lines
