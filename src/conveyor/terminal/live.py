"""The live view in a terminal: coloured step lines, output as it comes, a footer of
what is running now, and the seed's tables in colour at the end.

Only imported when stdout is a terminal: rich costs start-up time a pipe never pays.
"""

from __future__ import annotations

import threading
import time

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from conveyor.engine.events import (
    Annotation,
    Event,
    JobFinished,
    JobStarted,
    LogLines,
    RunArtifacts,
    RunFinished,
    RunStarted,
    Status,
    StepFinished,
    StepStarted,
)
from conveyor.engine.pipeline_status import PipelineTracker
from conveyor.terminal.closed_stdout import stop_writing_stdout
from conveyor.terminal.plain import (
    StepSummaries,
    describe_artifact,
    describe_step_end,
    format_duration,
)
from conveyor.terminal.tables import (
    TABLE_HEADERS,
    column_widths,
    failed_test_lines,
    failing_stages,
)

# A full workflow's tracker with more columns than this is drawn one line a stage.
TRACKER_ACROSS = 5

STYLES = {
    Status.SUCCESS: ("✓", "green"),
    Status.FAILURE: ("✗", "bold red"),
    Status.SKIPPED: ("○", "dim"),
    Status.CANCELLED: ("⊘", "yellow"),
    Status.RUNNING: ("●", "cyan"),
    Status.QUEUED: ("·", "dim"),
}


class PipeSafeConsole(Console):
    """A console whose reader may leave (``conveyor run --color always | head``).

    rich ends the process with exit code 1 when stdout's pipe closes; the run must go
    on and end with its own code, so the console just falls silent.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        stop_writing_stdout()


class LiveSink:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or PipeSafeConsole(highlight=False)
        self._running: dict[tuple[str, int], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.summaries = StepSummaries()
        self._live = Live(
            get_renderable=self._footer,
            console=self.console,
            transient=True,
            refresh_per_second=8,
        )
        self._live.start()

    @staticmethod
    def _prefix(job_key: str) -> str:
        # Every job's lines alike, the first one's too: which job a line belongs to
        # cannot depend on whether another job has started yet.
        return f"[{job_key}] "

    def _footer(self) -> Group:
        with self._lock:
            running = list(self._running.items())
        now = time.monotonic()
        rows = [
            Spinner("dots", Text(f" {self._prefix(job)}{name}  {format_duration(now - start)}"))
            for (job, _), (name, start) in running
        ]
        return Group(*rows)

    def emit(self, event: Event) -> None:
        print_ = self.console.print
        self.summaries.emit(event)
        if self.console.quiet:
            return  # nobody reads any more (PipeSafeConsole): rendering would be wasted
        if isinstance(event, LogLines):
            prefix = self._prefix(event.job_key)
            for line in event.lines():
                print_(self._log_line(prefix, line))
        elif isinstance(event, StepStarted):
            with self._lock:
                self._running[(event.job_key, event.step)] = (event.name, time.monotonic())
            command = event.command.splitlines()[0] if event.command else ""
            text = Text(f"{self._prefix(event.job_key)}▶ ", style="cyan")
            text.append(event.name, style="bold")
            text.append(f"  {command}", style="dim")
            print_(text)
        elif isinstance(event, StepFinished):
            with self._lock:
                self._running.pop((event.job_key, event.step), None)
            mark, style = STYLES[event.status]
            print_(Text(f"{self._prefix(event.job_key)}{mark} {describe_step_end(event)}", style))
        elif isinstance(event, JobStarted):
            print_(Text(f"[{event.job_key}] job started", style="bold blue"))
        elif isinstance(event, JobFinished):
            mark, style = STYLES[event.status]
            why = f": {event.reason}" if event.reason and event.status != Status.SUCCESS else ""
            text = f"[{event.job_key}] {mark} job {event.status} in "
            print_(Text(text + format_duration(event.duration) + why, style=style))
        elif isinstance(event, Annotation):
            style = {"error": "bold red", "warning": "yellow"}.get(event.level, "blue")
            where = f" {event.file}:{event.line or 1}" if event.file else ""
            print_(
                Text(f"{self._prefix(event.job_key)}{event.level}{where}: {event.message}", style)
            )
        elif isinstance(event, RunStarted):
            text = Text("Conveyor ", style="bold magenta")
            text.append(f"{event.workflow}", style="bold")
            where = f"{event.event} · {event.ref} · {event.short_sha()}"
            text.append(f"  {event.path} · {where}", "dim")
            print_(text)
        elif isinstance(event, RunArtifacts):
            print_(Text(f"Artifacts ({len(event.artifacts)})", style="bold"))
            for artifact in event.artifacts:
                print_(Text(f"  📦 {describe_artifact(artifact)}"))
        elif isinstance(event, RunFinished):
            self._live.stop()

    def close(self) -> None:
        self._live.stop()

    def _log_line(self, prefix: str, line: str) -> Text:
        if line.startswith("##[group]"):
            return Text(f"{prefix}▸ {line[9:]}", style="bold")
        if line.startswith("##[endgroup]"):
            return Text("")
        if line.startswith("##[error]"):
            return Text(f"{prefix}│ {line[9:]}", style="red")
        if line.startswith("##[warning]"):
            return Text(f"{prefix}│ {line[11:]}", style="yellow")
        text = Text(f"{prefix}│ ", style="dim")
        text.append_text(Text.from_ansi(line))
        return text

    def write_pipeline(self, tracker: PipelineTracker) -> None:
        self._live.stop()
        summaries = self.summaries.take()
        if summaries:
            from rich.markdown import Markdown  # only a run with step summaries pays for it

            for heading, markdown in summaries:
                self.console.rule(Text(f"Step summary · {heading}", style="bold"), align="left")
                self.console.print(Markdown(markdown))
        table = Table(
            title=f"Execution table · {tracker.workflow.display_name}", title_justify="left"
        )
        # A full workflow's cells end in "…" rather than wrapping into tall rows; the
        # seed's shorthand keeps its folded cells.
        seed = tracker.workflow.shorthand
        rows = tracker.table()
        # Each column's own width, cut as the plain tables are: rich's borders and
        # padding take three characters a column and one more.
        cells = [[r.step, r.action, r.command, r.result, r.next_step] for r in rows]
        room = self.console.width - 3 * len(TABLE_HEADERS) - 1
        widths = column_widths(TABLE_HEADERS, cells, None if seed else room)
        for header, width in zip(TABLE_HEADERS, widths, strict=True):
            if seed:
                table.add_column(header, overflow="fold")
            else:
                table.add_column(header, overflow="ellipsis", no_wrap=True, width=width)
        for row, stage in zip(rows, [*tracker.stages, None], strict=False):
            style = STYLES[stage.status][1] if stage is not None else "bold"
            table.add_row(row.step, row.action, row.command, Text(row.result, style), row.next_step)
        self.console.print(table)

        columns = tracker.tracker()
        status_table = Table(title="Variable tracker", title_justify="left")
        if seed or len(columns) <= TRACKER_ACROSS:
            status_table.add_column("Variable")
            for column, _ in columns:
                status_table.add_column(column)
            status_table.add_row("pipeline_status", *(value for _, value in columns))
        else:
            # Too many stages to read across a terminal: one line a stage.
            down = [[column, value] for column, value in columns]
            headers = ["After", "pipeline_status"]
            widths = column_widths(headers, down, self.console.width - 7)
            for header, width in zip(headers, widths, strict=True):
                status_table.add_column(header, overflow="ellipsis", no_wrap=True, width=width)
            for column, value in down:
                status_table.add_row(column, value)
        self.console.print(status_table)
        for stage in failing_stages(tracker):
            self.console.print(Text(f"Failed tests in {stage.name}:", style="bold red"))
            for line in failed_test_lines(stage):
                self.console.print(Text(f"  {line}", style="red"))
        _, style = STYLES.get(tracker.run_status, ("", "bold"))
        self.console.print(Text(f"pipeline_status: {tracker.pipeline_status}", style=style))
