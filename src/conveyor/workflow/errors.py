"""Problems found in a workflow, each pinned to file:line:column."""

from __future__ import annotations

from conveyor.records import record


@record(frozen=True, order=True)
class Position:
    """A place in a workflow file; line and column count from 1."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@record(frozen=True)
class Problem:
    position: Position
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


class WorkflowInvalid(Exception):
    """A workflow that cannot run; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.position)
        super().__init__("\n".join(str(p) for p in self.problems))
