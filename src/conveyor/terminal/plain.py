"""Plain, greppable text for a pipe or a file: one line an event, log lines prefixed.

Every line starts with ``[job]`` so ``grep '^\\[test\\]'`` picks one job's story out
of parallel jobs; markers are plain words (START, OK, FAIL, SKIP, CANCEL).
"""

from __future__ import annotations

from typing import Any, TextIO

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
    StepSummary,
)
from conveyor.engine.pipeline_status import PipelineTracker

MARKERS = {
    Status.SUCCESS: "OK",
    Status.FAILURE: "FAIL",
    Status.SKIPPED: "SKIP",
    Status.CANCELLED: "CANCEL",
}


def describe_artifact(artifact: dict[str, Any]) -> str:
    """``name  12.3 kB  3 file(s)  /where/artifact.tar.gz``: one kept artifact."""
    from conveyor.actions.artifact_store import format_size

    size = format_size(int(artifact.get("size", 0)))
    return f"{artifact['name']}  {size}  {artifact.get('files', 0)} file(s)  {artifact['path']}"


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def describe_step_end(event: StepFinished) -> str:
    text = f"{event.name} ({format_duration(event.duration)})"
    if event.status == Status.FAILURE or event.outcome == Status.FAILURE:
        why = event.reason or (f"exit code {event.exit_code}" if event.exit_code else "failed")
        text += f": {why}"
        if event.status == Status.SUCCESS:
            text += " (continue-on-error)"
    return text


class StepSummaries:
    """The Markdown steps wrote to ``GITHUB_STEP_SUMMARY``, kept for the end of the run
    with the job and step that wrote each."""

    def __init__(self) -> None:
        self._step_names: dict[tuple[str, int], str] = {}
        self.written: list[tuple[str, str]] = []  # (heading, markdown)

    def emit(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            self._step_names[(event.job_key, event.step)] = event.name
        elif isinstance(event, StepSummary):
            name = self._step_names.get((event.job_key, event.step), f"step {event.step + 1}")
            self.written.append((f"[{event.job_key}] {name}", event.markdown))

    def take(self) -> list[tuple[str, str]]:
        """The summaries written so far, once: the next workflow run starts afresh."""
        written, self.written = self.written, []
        self._step_names.clear()
        return written


class PlainSink:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        # Log lines are most of what a run prints: they go to the byte buffer
        # underneath, skipping the text layer's per-write encoding work.
        self._raw = getattr(out, "buffer", None)
        self._prefixes: dict[str, tuple[bytes, bytes]] = {}
        self.summaries = StepSummaries()

    def _write_log(self, event: LogLines) -> None:
        prefixes = self._prefixes.get(event.job_key)
        if prefixes is None:
            prefix = f"[{event.job_key}] | ".encode()
            prefixes = self._prefixes[event.job_key] = (prefix, b"\n" + prefix)
        prefix, newline_prefix = prefixes
        data = event.text.encode("utf-8", "replace").replace(b"\n", newline_prefix)
        if self._raw is None:
            self.out.write((prefix + data + b"\n").decode("utf-8"))
        else:
            self.out.flush()  # keep order with text written before
            self._raw.writelines((prefix, data, b"\n"))
            self._raw.flush()

    def emit(self, event: Event) -> None:
        write = self.out.write
        if isinstance(event, LogLines):
            self._write_log(event)
            return
        self.summaries.emit(event)
        if isinstance(event, StepSummary):
            return  # shown once the run is over, with the tables
        elif isinstance(event, StepStarted):
            command = event.command.splitlines()[0] if event.command else ""
            write(f"[{event.job_key}] START {event.name}: {command}\n")
        elif isinstance(event, StepFinished):
            marker = MARKERS.get(event.status, event.status)
            write(f"[{event.job_key}] {marker} {describe_step_end(event)}\n")
        elif isinstance(event, JobStarted):
            write(f"[{event.job_key}] JOB {event.name}\n")
        elif isinstance(event, JobFinished):
            why = f": {event.reason}" if event.reason and event.status != Status.SUCCESS else ""
            write(
                f"[{event.job_key}] JOB {MARKERS.get(event.status, event.status)} "
                f"({format_duration(event.duration)}){why}\n"
            )
        elif isinstance(event, Annotation):
            where = f" {event.file}:{event.line or 1}" if event.file else ""
            write(f"[{event.job_key}] {event.level.upper()}{where}: {event.message}\n")
        elif isinstance(event, RunStarted):
            where = f"{event.event} {event.ref} {event.short_sha()}"
            write(f"RUN {event.workflow} ({event.path}) on {where}\n")
        elif isinstance(event, RunArtifacts):
            for artifact in event.artifacts:
                write(f"ARTIFACT {describe_artifact(artifact)}\n")
        elif isinstance(event, RunFinished):
            why = f": {event.reason}" if event.reason else ""
            write(f"RUN {event.status.upper()} in {format_duration(event.duration)}{why}\n")
        self.out.flush()

    def write_pipeline(self, tracker: PipelineTracker) -> None:
        """The step summaries as their Markdown, then the seed's tables."""
        from conveyor.terminal.tables import summary_text, table_width

        for heading, markdown in self.summaries.take():
            self.out.write(f"\nSTEP SUMMARY {heading}\n{markdown.rstrip()}\n")
        self.out.write(summary_text(tracker, table_width(self.out)))
        self.out.flush()
