"""The execution table and the pipeline-status tracker as plain text."""

from __future__ import annotations

import os
import shutil
from typing import TextIO

from conveyor.engine.events import Status
from conveyor.engine.pipeline_status import PipelineTracker, Stage

TABLE_HEADERS = ("Step", "Action", "Command Run", "Result", "Next Step")

# Piped output has no terminal to fit; this is about what a wide editor or a CI log shows.
PIPED_WIDTH = 100
SEPARATOR = "  "
# A column is never cut narrower than its header or than this.
NARROWEST = 6


def table_width(out: TextIO) -> int:
    """``$COLUMNS`` when set, the terminal's width when ``out`` is one, else ``PIPED_WIDTH``."""
    asked = os.environ.get("COLUMNS", "").strip()
    if asked.isdigit() and int(asked) > 0:
        return int(asked)
    try:
        interactive = out.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if interactive:
        return shutil.get_terminal_size((PIPED_WIDTH, 24)).columns
    return PIPED_WIDTH


def cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _fitted(headers: list[str], widths: list[int], width: int) -> list[int]:
    """Column widths narrowed, widest first, until a line fits in ``width``."""
    widths = list(widths)
    floors = [min(w, max(len(h), NARROWEST)) for h, w in zip(headers, widths, strict=True)]
    excess = sum(widths) + len(SEPARATOR) * (len(widths) - 1) - width
    while excess > 0:
        room = [w - f for w, f in zip(widths, floors, strict=True)]
        widest = max(range(len(widths)), key=lambda i: (room[i] > 0, widths[i]))
        if room[widest] <= 0:
            break  # every column is at its floor: the line stays too long
        widths[widest] -= 1
        excess -= 1
    return widths


def column_widths(
    headers: tuple[str, ...] | list[str], rows: list[list[str]], width: int | None = None
) -> list[int]:
    """Each column's widest cell; with ``width``, narrowed until a line fits in it."""
    columns = zip(headers, *rows, strict=False)
    widths = [max(len(str(cell)) for cell in column) for column in columns]
    if width is None:
        return widths
    return _fitted([str(h) for h in headers], widths, width)


def _grid(
    headers: tuple[str, ...] | list[str],
    rows: list[list[str]],
    width: int | None = None,
) -> str:
    """Columns padded to their widest cell; with ``width``, cells cut to fit in it."""
    widths = column_widths(headers, rows, width)

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return SEPARATOR.join(
            cut(str(c), w).ljust(w) for c, w in zip(cells, widths, strict=False)
        ).rstrip()

    rule = SEPARATOR.join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def text_table(
    headers: tuple[str, ...] | list[str], rows: list[list[str]], width: int | None = None
) -> str:
    """A plain table: a header line, a rule, a line a row; cut to ``width`` when given."""
    return _grid(headers, rows, width)


def _fits_as_is(tracker: PipelineTracker) -> bool:
    # The seed's shorthand prints its tables exactly as the seed did, whatever the width.
    return tracker.workflow.shorthand


def execution_table_text(tracker: PipelineTracker, width: int | None = None) -> str:
    rows = [[r.step, r.action, r.command, r.result, r.next_step] for r in tracker.table()]
    return _grid(TABLE_HEADERS, rows, None if _fits_as_is(tracker) else width)


def tracker_text(tracker: PipelineTracker, width: int | None = None) -> str:
    columns = tracker.tracker()
    headers = ["Variable", *(c for c, _ in columns)]
    across = _grid(headers, [["pipeline_status", *(s for _, s in columns)]])
    if _fits_as_is(tracker) or width is None or len(across.splitlines()[0]) <= width:
        return across
    # Too many stages to read across: one line a stage, as the pipeline went.
    down = [[column, status] for column, status in columns]
    return _grid(["After", "pipeline_status"], down, width)


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


def summary_text(tracker: PipelineTracker, width: int | None = None) -> str:
    """Both tables and the status; a full workflow's fitted to ``width`` when given."""
    return (
        f"\nExecution table: {tracker.workflow.display_name}\n"
        f"{execution_table_text(tracker, width)}\n\n"
        f"Variable tracker\n{tracker_text(tracker, width)}\n"
        f"{failed_tests_text(tracker)}\n"
        f"pipeline_status: {tracker.pipeline_status}\n"
    )
