"""The seed's execution table and tracker of a run, as the run page, the API and the live
stream show them: one reading of ``Run.execution``.

The ``DatabaseSink`` stores the engine's ``PipelineTracker.snapshot()`` there while
the run goes on, so every reader words the tables exactly as ``conveyor run`` does.

A run that ended without the engine's last word (the server stopped under it) has
its unfinished stages ended with it, as its rows are. A run the engine never
started (still queued, cancelled while queued, or stopped by an invalid workflow)
has no snapshot and shows no stages: the tracker's Start column with the run's
pipeline status, and an empty table. Listing its stages as waiting would mean
reading the workflow from git on every view of the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conveyor.engine.events import Status as EngineStatus
from conveyor.engine.pipeline_status import PipelineTracker
from conveyor.server.runs.models import Run, Status

_ROW_FIELDS = ("step", "action", "command", "result", "next_step", "status")


@dataclass(frozen=True)
class Execution:
    """The tables of a run: ``tracker`` (column, pipeline status) pairs, ``table`` one dict
    a row (``_ROW_FIELDS``), ``stages`` one dict a stage (at least name and status)."""

    tracker: list[tuple[str, str]]
    table: list[dict[str, str]]
    stages: list[dict[str, Any]]


def execution_of(run: Run) -> Execution:
    """The tables of ``run`` as the sink last wrote them (see the module's docstring)."""
    recorded = run.execution
    if not _is_snapshot(recorded):
        return Execution(tracker=[("Start", run.pipeline_status)], table=[], stages=[])
    if run.finished and recorded["table"][-1]["status"] in (Status.QUEUED, Status.RUNNING):
        recorded = _settled(recorded, run)
    return Execution(
        tracker=[(column, value) for column, value in recorded["tracker"]],
        table=recorded["table"],
        stages=recorded["stages"],
    )


def _settled(recorded: dict[str, Any], run: Run) -> dict[str, Any]:
    try:
        tracker = PipelineTracker.from_snapshot(recorded)
    except ValueError:
        return recorded  # drawn as it was written: better than no table
    tracker.settle(EngineStatus(run.status), run.reason or None)
    return tracker.snapshot()


def _is_snapshot(value: object) -> bool:
    # Anything else (an empty dict before the run starts) reads as "not started".
    return (
        isinstance(value, dict)
        and isinstance(value.get("tracker"), list)
        and isinstance(value.get("table"), list)
        and isinstance(value.get("stages"), list)
        and bool(value["table"])  # Pipeline End is always there
        and all(isinstance(row, dict) and set(_ROW_FIELDS) <= row.keys() for row in value["table"])
    )
