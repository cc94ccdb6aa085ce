"""Running a workflow from YAML text with a recording sink, for the engine's tests."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from conveyor.engine.events import Event, JobFinished, JobStarted, LogLines
from conveyor.engine.git_info import GitInfo
from conveyor.engine.record import RunRecorder
from conveyor.engine.results import RunResult
from conveyor.engine.runner import RunOptions, run_workflow
from conveyor.executors.base import Cancellation, Executor
from conveyor.executors.fake import FakeExecutor
from conveyor.workflow.load import parse_workflow

GIT = GitInfo(
    sha="1234567890abcdef1234567890abcdef12345678",
    ref="refs/heads/feature",
    ref_name="feature",
    ref_type="branch",
    repository="acme/widgets",
    repository_owner="acme",
    actor="dev",
)


@dataclass
class EventLog(RunRecorder):
    """A RunRecorder that also keeps every event, log text included."""

    events: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        self.events.append(event)
        super().emit(event)

    def log(self, job_key: str, step: int | None = None) -> list[str]:
        lines: list[str] = []
        for event in self.events:
            if (
                isinstance(event, LogLines)
                and event.job_key == job_key
                and (step is None or event.step == step)
            ):
                lines.extend(event.lines())
        return lines

    def order(self) -> list[str]:
        """``start:<key>`` / ``end:<key>`` for each job event, in emission order."""
        marks = []
        for event in self.events:
            if isinstance(event, JobStarted):
                marks.append(f"start:{event.job_key}")
            elif isinstance(event, JobFinished):
                marks.append(f"end:{event.job_key}")
        return marks


@dataclass
class Outcome:
    result: RunResult
    events: EventLog
    executor: Any


def run_yaml(
    text: str,
    workspace: str,
    executor: Executor | None = None,
    cancellation: Cancellation | None = None,
    **options: Any,
) -> Outcome:
    workflow = parse_workflow(textwrap.dedent(text), "ci.yml")
    executor = executor or FakeExecutor()
    options.setdefault("git", GIT)
    options.setdefault("max_parallel_jobs", 4)
    sink = EventLog()
    result = run_workflow(
        workflow, RunOptions(workspace=workspace, **options), executor, sink, cancellation
    )
    return Outcome(result, sink, executor)
