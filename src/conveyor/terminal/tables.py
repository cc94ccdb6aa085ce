"""The execution table and the pipeline-status tracker as plain text."""

from __future__ import annotations

from conveyor.engine.pipeline_status import PipelineTracker

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


def summary_text(tracker: PipelineTracker) -> str:
    return (
        f"\nExecution table: {tracker.workflow.display_name}\n"
        f"{execution_table_text(tracker)}\n\n"
        f"Variable tracker\n{tracker_text(tracker)}\n\n"
        f"pipeline_status: {tracker.pipeline_status}\n"
    )
