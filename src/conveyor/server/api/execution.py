"""The seed's execution table and pipeline-status tracker of a run, for the API's answers.

Both are read from what the engine's tracker recorded (``conveyor.server.runs.execution``):
the same words in the CLI, the UI and the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.engine.pipeline_status import TableRow
from conveyor.server.runs import execution
from conveyor.server.runs.models import Run


@dataclass(frozen=True)
class Execution:
    table: list[TableRow]
    tracker: list[tuple[str, str]]


def execution_of(run: Run) -> Execution:
    """The execution table and the tracker of ``run`` as the sink last wrote them."""
    recorded = execution.execution_of(run)
    return Execution(
        table=[
            TableRow(
                step=row["step"],
                action=row["action"],
                command=row["command"],
                result=row["result"],
                next_step=row["next_step"],
            )
            for row in recorded.table
        ],
        tracker=recorded.tracker,
    )
