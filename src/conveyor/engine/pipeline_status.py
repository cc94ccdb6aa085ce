"""The seed's execution table and pipeline-status tracker, built from a run's events.

A *stage* is a step when the workflow has one job (the seed's form) and a job
otherwise. ``PipelineTracker`` is a sink: feed it every event of a run and it
keeps one ``Stage`` a stage, in workflow order, from which both the execution
table (Step · Action · Command Run · Result · Next Step) and the tracker
(``pipeline_status`` after each stage) are drawn. The CLI prints them at the end;
the server will show the same rows live.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from conveyor.engine.events import (
    DeploymentChanged,
    Event,
    JobFinished,
    JobStarted,
    LogLines,
    RunFinished,
    Status,
    StepFinished,
    StepStarted,
)
from conveyor.engine.failed_tests import KEPT_IDS, FailedTests
from conveyor.records import as_dict, field, field_names, record
from conveyor.workflow.errors import Position
from conveyor.workflow.model import Workflow

NOT_STARTED = "Not started"

# A stage whose name says what it does gets the seed's wording; others a plain one.
# (Patterns are compiled when first used, here and below: compiling costs start-up.)
_PHRASES: list[tuple[str, str, str]] = [
    (r"\bbuild", "Build successful", "Build failed"),
    (r"\btest", "Tests passed", "Test failed"),
    (r"\bdeploy", "Deployed", "Deploy failed"),
    (r"\blint", "Lint passed", "Lint failed"),
]


def success_phrase(stage_name: str) -> str:
    for pattern, success, _ in _PHRASES:
        if re.search(pattern, stage_name, re.I):
            return success
    return f"{stage_name} succeeded"


def failure_phrase(stage_name: str) -> str:
    for pattern, _, failure in _PHRASES:
        if re.search(pattern, stage_name, re.I):
            return failure
    return f"{stage_name} failed"


@record
class Stage:
    name: str
    command: str
    status: Status = Status.QUEUED
    duration: float | None = None
    reason: str | None = None
    exit_code: int | None = None
    last_line: str = ""
    summary_line: str = ""  # the last line that sums the stage up (see _summary)
    # For a job stage: how many of its matrix combinations there are and how many failed.
    parts: int = 0
    failed_parts: int = 0
    # How many combinations ended, and their combined conclusion so far: the stage runs
    # on while any of its started combinations does.
    finished_parts: int = 0
    conclusion: Status = Status.QUEUED
    # The tests its output said failed (see failed_tests.py): the first few ids, and
    # how many distinct ones it named in all.
    failed_tests: list[str] = field(default_factory=list)
    failed_test_count: int = 0
    # The seed's shorthand calls each row "<name> Stage"; a full workflow's rows are
    # named by their step or job alone. True by default so that snapshots stored before
    # this field existed draw as they did.
    seed_wording: bool = True
    # The last state a conveyor/deploy-django step of the stage reported (events.py's
    # DeploymentChanged); empty for a stage that deploys with a plain script.
    deployment: str = ""

    @property
    def action(self) -> str:
        return f"{self.name} Stage" if self.seed_wording else self.name

    @property
    def finished(self) -> bool:
        return self.status not in (Status.QUEUED, Status.RUNNING)


@record
class TableRow:
    step: str
    action: str
    command: str
    result: str
    next_step: str


@record
class PipelineTracker:
    """A sink that turns a run's events into stages, then into the seed's two tables."""

    workflow: Workflow
    # The job ids the run executes (``conveyor run --job``); None means all of them.
    selected_jobs: list[str] | None = None
    stages: list[Stage] = field(default_factory=list)
    run_status: Status = Status.QUEUED
    run_reason: str | None = None

    def __post_init__(self) -> None:
        self._failed: dict[int, FailedTests] = {}
        jobs = [
            job
            for job in self.workflow.jobs.values()
            if self.selected_jobs is None or job.id in self.selected_jobs
        ]
        # A job calling a reusable workflow has no steps of its own: its row is a job's.
        self._by_step = len(jobs) == 1 and jobs[0].uses is None
        # The seed's shorthand keeps its table word for word; a full workflow's is made
        # readable: short action refs, rows named without " Stage".
        seed = self.workflow.shorthand
        if self._by_step:
            self._step_runs = [step.run is not None for step in jobs[0].steps]
            self.stages = [
                Stage(
                    name=step.display_name if seed else _step_name(step),
                    command=_command_of(step.run, step.uses if seed else short_uses(step.uses)),
                    seed_wording=seed,
                )
                for step in jobs[0].steps
            ]
        else:
            self._job_index = {job.id: i for i, job in enumerate(jobs)}
            self.stages = [
                Stage(
                    name=job.name or job.id,
                    command=self._job_command(job, seed),
                    seed_wording=seed,
                )
                for job in jobs
            ]
            self._job_ids: dict[str, str] = {}  # job_key -> job id, from JobStarted

    @staticmethod
    def _job_command(job: Any, seed: bool) -> str:
        if job.uses is not None:
            return f"uses: {short_uses(job.uses)}"
        return _job_command(job.steps) if seed else job_summary(job.steps)

    def emit(self, event: Event) -> None:
        if isinstance(event, RunFinished):
            self.run_status = event.status
            self.run_reason = event.reason
            return
        if isinstance(event, DeploymentChanged):
            self._on_deployment(event)
        elif self._by_step:
            self._on_step_event(event)
        else:
            self._on_job_event(event)

    def _on_deployment(self, event: DeploymentChanged) -> None:
        if self._by_step:
            stage = self.stages[event.step] if event.step < len(self.stages) else None
        else:
            stage = self._job_stage(self._job_id_of(event.job_key))
        if stage is not None:
            stage.deployment = event.state

    def _on_step_event(self, event: Event) -> None:
        if isinstance(event, StepStarted) and event.step < len(self.stages):
            stage = self.stages[event.step]
            stage.status = Status.RUNNING
            # The script as evaluated, cut to its first line like the workflow's own; a
            # `uses:` step keeps its "uses: " wording.
            if event.command and self._step_runs[event.step]:
                stage.command = _command_of(event.command, None)
        elif isinstance(event, LogLines) and event.step < len(self.stages):
            _remember_last_line(self.stages[event.step], event.text)
            self._remember_failed_tests(event.step, event.text)
        elif isinstance(event, StepFinished) and event.step < len(self.stages):
            stage = self.stages[event.step]
            if event.failed_tests:
                self._remember_failed_tests(event.step, ids=event.failed_tests)
            stage.status = event.status
            stage.duration = event.duration
            stage.reason = event.reason
            stage.exit_code = event.exit_code

    def _on_job_event(self, event: Event) -> None:
        if isinstance(event, JobStarted):
            self._job_ids[event.job_key] = event.job_id
            stage = self._job_stage(event.job_id)
            if stage is not None:
                stage.status = Status.RUNNING
                stage.parts += 1
        elif isinstance(event, LogLines):
            job_id = self._job_id_of(event.job_key)
            stage = self._job_stage(job_id)
            if stage is not None:
                _remember_last_line(stage, event.text)
                self._remember_failed_tests(self._job_index[job_id], event.text)
        elif isinstance(event, StepFinished) and event.failed_tests:
            job_id = self._job_id_of(event.job_key)
            if job_id in self._job_index:
                self._remember_failed_tests(self._job_index[job_id], ids=event.failed_tests)
        elif isinstance(event, JobFinished):
            stage = self._job_stage(event.job_id)
            if stage is None:
                return
            stage.duration = max(stage.duration or 0.0, event.duration)
            if event.status == Status.FAILURE:
                stage.failed_parts += 1
                stage.reason = stage.reason or event.reason
            stage.finished_parts += 1
            stage.conclusion = _combine(stage.conclusion, event.status)
            still_running = stage.finished_parts < stage.parts
            stage.status = Status.RUNNING if still_running else stage.conclusion

    def _remember_failed_tests(self, index: int, text: str = "", ids: Sequence[str] = ()) -> None:
        """Failed tests named in a batch of ``text`` output, or ``ids`` from a report."""
        found = self._failed.get(index)
        if found is None:
            found = self._failed[index] = FailedTests()
        if found.add(ids) or found.feed(text):
            stage = self.stages[index]
            stage.failed_tests = found.ids[:KEPT_IDS]
            stage.failed_test_count = found.count

    def _job_id_of(self, job_key: str) -> str:
        # A called job's key ("call / test") names its caller's stage through JobStarted.
        return self._job_ids.get(job_key) or job_key.split(" (", 1)[0]

    def _job_stage(self, job_id: str) -> Stage | None:
        index = self._job_index.get(job_id)
        return None if index is None else self.stages[index]

    # -- the seed's two tables -------------------------------------------------

    def tracker(self) -> list[tuple[str, str]]:
        """``(column, pipeline_status)`` pairs: Start, then After <stage> for each stage."""
        columns = [("Start", NOT_STARTED)]
        current = NOT_STARTED
        for stage in self.stages:
            if stage.deployment and stage.status in (Status.SUCCESS, Status.FAILURE):
                current = _deployment_phrase(stage)
            elif stage.status == Status.SUCCESS:
                current = success_phrase(stage.name)
            elif stage.status == Status.FAILURE:
                current = failure_phrase(stage.name)
            elif stage.status == Status.CANCELLED:
                current = f"{stage.name} cancelled"
            elif stage.status == Status.SKIPPED:
                pass  # the status stays where the pipeline stopped
            else:
                current = f"{stage.name} running" if stage.status == Status.RUNNING else current
            columns.append((f"After {stage.name}", current))
        return columns

    @property
    def pipeline_status(self) -> str:
        return self.tracker()[-1][1]

    def table(self) -> list[TableRow]:
        rows: list[TableRow] = []
        for number, stage in enumerate(self.stages, start=1):
            rows.append(
                TableRow(
                    step=str(number),
                    action=stage.action,
                    command=stage.command,
                    result=_result_text(stage),
                    next_step=self._next_step(number - 1),
                )
            )
        rows.append(
            TableRow(
                step=str(len(self.stages) + 1),
                action="Pipeline End",
                command="-",
                result="-",
                next_step=self._end_text(),
            )
        )
        return rows

    def snapshot(self) -> dict[str, Any]:
        """Everything the tables show, JSON-serialisable, for a reader that has no events.

        ``tracker`` is ``[[column, pipeline_status], ...]``; ``table`` one dict a row
        (step, action, command, result, next_step, and the status its row is drawn
        in: the stage's, or the run's for Pipeline End, ``queued`` while it goes on);
        ``stages`` one dict a stage with every field of ``Stage``.
        """
        statuses = [stage.status.value for stage in self.stages] + [self.run_status.value]
        return {
            "tracker": [[column, value] for column, value in self.tracker()],
            "table": [
                {**as_dict(row), "status": status}
                for row, status in zip(self.table(), statuses, strict=True)
            ],
            "stages": [
                {
                    **as_dict(stage),
                    "status": stage.status.value,
                    "conclusion": stage.conclusion.value,
                }
                for stage in self.stages
            ],
        }

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> PipelineTracker:
        """The tracker that ``snapshot()`` described, to draw again once more is known.

        Raises ``ValueError`` when ``snapshot`` is not what ``snapshot()`` returns.
        """
        try:
            stages = [_stage_from(record) for record in snapshot["stages"]]
            run_status = Status(snapshot["table"][-1]["status"])
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ValueError(f"not a snapshot of a PipelineTracker: {error!r}") from None
        # The stages are given: a workflow without jobs adds none of its own.
        tracker = cls(Workflow(path="", position=Position("", 1, 1)))
        tracker.stages = stages
        tracker.run_status = run_status
        return tracker

    def settle(self, status: Status, reason: str | None = None) -> None:
        """End the run with ``status`` when its events stopped short of ``RunFinished``
        (the process running it died): what ran fails (or is cancelled with the run),
        what never started is skipped."""
        cancelled = status == Status.CANCELLED
        for stage in self.stages:
            if stage.status == Status.RUNNING:
                stage.status = Status.CANCELLED if cancelled else Status.FAILURE
                stage.reason = stage.reason or reason
            elif stage.status == Status.QUEUED:
                stage.status = Status.SKIPPED
        self.run_status = status
        self.run_reason = reason

    def _next_step(self, index: int) -> str:
        stage = self.stages[index]
        later = self.stages[index + 1 :]
        if stage.status in (Status.QUEUED, Status.RUNNING):
            return "Waiting" if stage.status == Status.QUEUED else "Running"
        if stage.status == Status.SKIPPED:
            return "Not run"
        if stage.status == Status.FAILURE:
            return (
                "Pipeline stopped"
                if all(s.status == Status.SKIPPED for s in later)
                else ("Continue despite failure")
            )
        if stage.status == Status.CANCELLED:
            return "Pipeline cancelled"
        upcoming = next((s for s in later if s.status != Status.SKIPPED), None)
        if upcoming is not None:
            return f"Proceed to {upcoming.action}"
        return "Pipeline Complete" if not later else "Pipeline stopped"

    def _end_text(self) -> str:
        if self.run_status == Status.SUCCESS:
            return "No further steps"
        if self.run_status == Status.CANCELLED:
            return "Cancelled"
        if self.run_status == Status.FAILURE:
            return f"Stopped: {self.pipeline_status}"
        return "Running"


def _deployment_phrase(stage: Stage) -> str:
    """A real deploy's stage says what became of the release: ``Deployed`` only once it
    went live (health-checked), ``Rolled back`` when it was undone after the switch."""
    if stage.deployment == "rolled-back":
        return "Rolled back"
    if stage.deployment == "live":
        return "Deployed" if stage.status == Status.SUCCESS else failure_phrase(stage.name)
    return "Deploy failed"


def _stage_from(record: dict[str, Any]) -> Stage:
    known = {name: record[name] for name in field_names(Stage) if name in record}
    stage = Stage(**known)
    stage.status = Status(stage.status)
    stage.conclusion = Status(stage.conclusion)
    return stage


def _command_of(run: str | None, uses: str | None) -> str:
    if run is not None:
        lines = [line for line in run.strip().splitlines() if line.strip()]
        if not lines:
            return ""
        return lines[0] + (" …" if len(lines) > 1 else "")
    return f"uses: {uses}"


# A commit SHA pinning an action: 40 hex digits, of which 7 say enough to a reader.
_SHA_PIN = r"@([0-9a-fA-F]{40})$"
SHORT_SHA = 7


def short_uses(uses: str | None) -> str | None:
    """``owner/repo@v4`` as written; a 40-hex SHA pin cut to its first 7 characters."""
    if uses is None:
        return None
    return re.sub(_SHA_PIN, lambda match: "@" + match.group(1)[:SHORT_SHA], uses.strip())


def _step_name(step: Any) -> str:
    """A full workflow's step as its row names it: its name, its command, or its action."""
    if step.name or step.run is not None:
        return step.display_name
    return short_uses(step.uses) or step.display_name


# What a job ran, in short, is cut here too: the server shows it without a width to fit.
JOB_SUMMARY_LIMIT = 120


def job_summary(steps: list) -> str:
    """``actions/checkout@v4; pip install .; pytest -q``: each step's action or first line."""
    parts: list[str] = []
    for step in steps:
        if step.run is not None:
            lines = [line.strip() for line in step.run.strip().splitlines() if line.strip()]
            if lines:
                parts.append(lines[0])
        elif step.uses:
            parts.append(short_uses(step.uses) or "")
    return _shorten("; ".join(parts), JOB_SUMMARY_LIMIT)


def _job_command(steps: list) -> str:
    commands = [_command_of(step.run, step.uses) for step in steps]
    if len(commands) <= 1:
        return commands[0] if commands else ""
    return f"{commands[0]} (+{len(commands) - 1} more)"


# Lines that sum a stage up, as test runners and build tools print them; the table
# prefers the last of these to the last line (often a tool's closing chatter).
_SUMMARY_WORDS = ("ran ", "passed", "failed", "error", "file")


@functools.cache
def _summary() -> re.Pattern[str]:
    return re.compile(
        r"\bran \d+ tests?\b|\b\d+ (?:passed|failed|errors?)\b|\bFAILED\b"
        r"|\bfiles? (?:copied|collected)\b|\bcopied\b.*\bfiles?\b",
        re.IGNORECASE,
    )


def _remember_last_line(stage: Stage, text: str) -> None:
    # Only the tail of each batch is looked at: a step may print gigabytes.
    tail = text[-2000:]
    # The last few lines nearly always hold the last one worth showing: splitting
    # only those keeps a batch of many short lines cheap.
    # (The first piece of rsplit holds everything before those lines: not one line.)
    last = _last_shown(tail.rsplit("\n", 8)[1:]) or _last_shown(tail.split("\n"))
    if last is None:
        return
    stage.last_line = last
    # Every summary names one of these words: a batch whose tail names none is done
    # without the pattern, which costs ~100 times more to run over the same text.
    folded = tail.casefold()
    if not any(word in folded for word in _SUMMARY_WORDS):
        return
    lines = [line.strip() for line in tail.split("\n")]
    lines = [line for line in lines if line and not line.startswith("##[")]
    pattern = _summary()
    said = next((line for line in reversed(lines) if pattern.search(line)), None)
    if said is not None:
        stage.summary_line = said


def _last_shown(lines: list[str]) -> str | None:
    """The last line with something in it that is not a ``##[`` marker, stripped."""
    for line in reversed(lines):
        line = line.strip()
        if line and not line.startswith("##["):
            return line
    return None


def _combine(current: Status, new: Status) -> Status:
    order = [Status.FAILURE, Status.CANCELLED, Status.RUNNING, Status.SUCCESS, Status.SKIPPED]
    if current in (Status.QUEUED, Status.RUNNING):
        return new
    return min(current, new, key=order.index)


def _result_text(stage: Stage) -> str:
    duration = f" in {stage.duration:.1f}s" if stage.duration is not None else ""
    said = stage.summary_line or stage.last_line
    detail = f": {_shorten(said)}" if said else ""
    if stage.status == Status.SUCCESS:
        return f"Succeeded{duration}{detail}"
    if stage.status == Status.FAILURE:
        code = f" (exit code {stage.exit_code})" if stage.exit_code else ""
        why = stage.reason or (said and _shorten(said))
        text = f"Failed{duration}{code}" + (f": {why}" if why else "")
        if stage.failed_tests:
            text += f"; failed tests: {name_failed_tests(stage, TABLE_IDS)}"
        return text
    if stage.status == Status.CANCELLED:
        return f"Cancelled{duration}"
    if stage.status == Status.SKIPPED:
        return "Skipped"
    if stage.status == Status.RUNNING:
        return "Running"
    return "Waiting"


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# The table names a few failed tests, the list after the tables (failed_tests_text) more.
TABLE_IDS = 3


def name_failed_tests(stage: Stage, limit: int = KEPT_IDS) -> str:
    """``a, b, c and 4 more``: the stage's failed tests, at most ``limit`` named."""
    named = stage.failed_tests[:limit]
    more = max(stage.failed_test_count, len(stage.failed_tests)) - len(named)
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")
