"""The event vocabulary: what the engine tells its sinks while a run goes on.

Sinks (the terminal, the ``--json`` stream, later the server's database) receive
these in order from ``Sink.emit``. Each event is plain data and turns into one
JSON object with ``to_json()``; that object's ``type`` field names the event, and
``event_from_json`` turns it back (events cross processes and machines as JSON).

A job is identified by its ``job_key``: the job id, plus the matrix values for
matrix jobs (``test (3.11, ubuntu)``), unique within a run.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from conveyor.records import as_dict, field, record


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


@record(frozen=True)
class Event:
    type = "event"

    def to_json(self) -> dict[str, Any]:
        data = as_dict(self)
        data["type"] = self.type
        return data


@record(frozen=True)
class RunStarted(Event):
    type = "run_started"
    workflow: str  # display name
    path: str
    event: str  # push, pull_request, workflow_dispatch, ...
    ref: str
    sha: str
    jobs: list[str]  # ids of the jobs this run considers (only_jobs + their needs), file order
    dirty: bool = False  # the working tree run has changes that ``sha`` lacks

    def short_sha(self) -> str:
        """The commit as people write it, ``e307576+dirty`` when the tree was changed."""
        return self.sha[:7] + ("+dirty" if self.dirty else "")


@record(frozen=True)
class JobStarted(Event):
    type = "job_started"
    job_key: str
    job_id: str
    name: str
    matrix: dict[str, Any] = field(default_factory=dict)


@record(frozen=True)
class StepStarted(Event):
    type = "step_started"
    job_key: str
    step: int  # 0-based index in the job
    name: str
    command: str  # the run: text (masked) or the uses: reference


@record(frozen=True)
class LogLines(Event):
    """One or more complete lines of a step's output, already masked.

    ``text`` holds the lines joined with ``\\n`` and no trailing newline. Lines
    come in batches so that a step printing millions of lines costs one event per
    batch, not one per line.
    """

    type = "log"
    job_key: str
    step: int
    text: str

    def lines(self) -> list[str]:
        return self.text.split("\n")


@record(frozen=True)
class Annotation(Event):
    """An ``::error::``, ``::warning::`` or ``::notice::`` workflow command."""

    type = "annotation"
    job_key: str
    step: int
    level: str  # error | warning | notice
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    title: str | None = None


@record(frozen=True)
class StepFinished(Event):
    type = "step_finished"
    job_key: str
    step: int
    name: str
    status: Status  # the conclusion: success, failure, cancelled or skipped
    outcome: Status  # before continue-on-error is applied
    duration: float  # seconds
    exit_code: int | None = None
    reason: str | None = None  # why it failed, when not a plain exit code
    outputs: dict[str, str] = field(default_factory=dict)
    # The failed tests a JUnit report the step wrote names (masked); [] if none.
    failed_tests: list[str] = field(default_factory=list)


@record(frozen=True)
class JobFinished(Event):
    type = "job_finished"
    job_key: str
    job_id: str
    status: Status
    duration: float
    outputs: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    # The display name, so that a skipped job (which has no JobStarted) can be shown.
    name: str = ""
    matrix: dict[str, Any] = field(default_factory=dict)
    # The job failed but has ``continue-on-error``: the run does not fail for it.
    continued_on_error: bool = False


@record(frozen=True)
class StepSummary(Event):
    """The Markdown a step appended to its ``GITHUB_STEP_SUMMARY`` file (masked)."""

    type = "step_summary"
    job_key: str
    step: int
    markdown: str


@record(frozen=True)
class RunArtifacts(Event):
    """The artifacts the run kept (upload-artifact), sent once before ``RunFinished``
    when there is at least one. Each: ``id``, ``name``, ``size`` (bytes), ``digest``
    (sha-256 hex), ``files``, ``job_key``, ``path`` (the archive on disk), ``url``."""

    type = "artifacts"
    artifacts: list[dict[str, Any]] = field(default_factory=list)


@record(frozen=True)
class DeploymentChanged(Event):
    """A deploy step's release moved on (conveyor/deploy-django): ``deploying`` →
    ``health-checking`` → ``live``; or ``failed`` (it never served: the previous
    release still does) or ``rolled-back`` (it served, turned unhealthy and was undone).
    The tracker says ``Deployed`` only after ``live``, and the run page shows the state."""

    type = "deployment"
    job_key: str
    step: int
    state: str
    target: str  # where: a directory or ssh://user@host/path
    release: str = ""  # the release's name (releases/<name>)
    url: str = ""  # where it serves (the bind address as a URL)
    reason: str | None = None  # why it failed or was rolled back
    # What a health watch checks once it is live: GET url + health_path, sent with
    # ``Host: health_host`` ("" when unknown: the URL's own host).
    health_path: str = ""
    health_host: str = ""


@record(frozen=True)
class RunFinished(Event):
    type = "run_finished"
    status: Status
    duration: float
    reason: str | None = None


def event_from_json(data: dict[str, Any]) -> Event:
    """The event whose ``to_json()`` gave ``data``; ValueError when ``data`` is none.

    Every subclass of ``Event`` imported so far is known by its ``type``, the server's
    own (``JobWaiting``) too once its module is imported."""
    kind = _event_types().get(data.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise ValueError(f"not an event: unknown type {data.get('type')!r}")
    names = kind.__record__.names  # type: ignore[attr-defined]
    values = {name: data[name] for name in names if name in data}
    for name in _status_fields(kind):
        if values.get(name) is not None:
            values[name] = Status(values[name])
    try:
        return kind(**values)
    except TypeError as error:
        raise ValueError(f"not a {kind.type} event: {error}") from None


def _event_types() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    waiting: list[type[Event]] = [Event]
    while waiting:
        kind = waiting.pop()
        found.setdefault(kind.type, kind)
        waiting += kind.__subclasses__()
    return found


def _status_fields(kind: type[Event]) -> list[str]:
    return [
        name
        for base in kind.__mro__
        for name, annotation in base.__dict__.get("__annotations__", {}).items()  # noqa: RUF063 (inspect costs start-up)
        if str(annotation) in ("Status", "Status | None")
    ]


class Sink(Protocol):
    """Receives every event of a run, in order, from one thread at a time."""

    def emit(self, event: Event) -> None: ...
