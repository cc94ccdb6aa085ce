"""The execution table and the pipeline-status tracker as plain text."""

from __future__ import annotations

from conveyor.engine.events import Status
from conveyor.engine.pipeline_status import PipelineTracker, Stage

TABLE_HEADERS = ("Step", "Action", "Command Run", "Result", "Next Step")


def _grid(headers: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    columns = zip(headers, *rows, strict=False)
    widths = [max(len(str(cell)) for cell in column) for column in columns]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def execution_table_text(tracker: PipelineTracker) -> str:
    rows = [[r.step, r.action, r.command, r.result, r.next_step] for r in tracker.table()]
    return _grid(TABLE_HEADERS, rows)


def tracker_text(tracker: PipelineTracker) -> str:
    columns = tracker.tracker()
    headers = ["Variable", *(c for c, _ in columns)]
    return _grid(headers, [["pipeline_status", *(s for _, s in columns)]])


def failed_test_lines(stage: Stage) -> list[str]:
    """The stage's failed tests one a line, at most the kept few, then how many more."""
    more = stage.failed_test_count - len(stage.failed_tests)
    return [*stage.failed_tests, *([f"and {more} more"] if more > 0 else [])]


def failing_stages(tracker: PipelineTracker) -> list[Stage]:
    return [s for s in tracker.stages if s.status == Status.FAILURE and s.failed_tests]


def failed_tests_text(tracker: PipelineTracker) -> str:
    return "".join(
        f"\nFailed tests in {stage.name}:\n"
        + "".join(f"  {line}\n" for line in failed_test_lines(stage))
        for stage in failing_stages(tracker)
    )


def summary_text(tracker: PipelineTracker) -> str:
    return (
        f"\nExecution table: {tracker.workflow.display_name}\n"
        f"{execution_table_text(tracker)}\n\n"
        f"Variable tracker\n{tracker_text(tracker)}\n"
        f"{failed_tests_text(tracker)}\n"
        f"pipeline_status: {tracker.pipeline_status}\n"
    )
