"""The live view's tables of a full workflow fit the terminal's width, one line a row,
cells cut with "…"; the seed's shorthand keeps its folded cells."""

from __future__ import annotations

import io

from rich.console import Console

from conveyor.terminal.live import LiveSink
from tests.terminal.test_tables_fit_the_width import finished, many_jobs


def drawn(workflow_jobs: int, shorthand: bool = False, width: int = 80) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=False, color_system=None)
    LiveSink(console).write_pipeline(finished(many_jobs(workflow_jobs, shorthand)))
    return out.getvalue()


def test_a_full_workflows_tables_fit_an_eighty_column_terminal() -> None:
    text = drawn(6)

    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.startswith("│ ") and line[2].isdigit()]
    # One line a row: six jobs and Pipeline End, each cut rather than wrapped.
    assert [row.split("│")[1].strip() for row in rows] == ["1", "2", "3", "4", "5", "6", "7"]
    assert all("Succeeded" in row and "…" in row for row in rows[:6])
    # Seven tracker columns are too many across: one line a stage.
    assert any("After Integration tests on platform 5" in line for line in lines)


def test_the_seed_shorthand_folds_its_cells_as_before() -> None:
    text = drawn(1, shorthand=True, width=60)
    table = text[: text.index("Variable tracker")]

    assert "…" not in table
    assert "--durations=20" in table.replace("│", "").replace(" ", "")
