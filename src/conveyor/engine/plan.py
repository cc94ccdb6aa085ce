"""A job instance as plain data: what crosses from the scheduler to whoever runs the job.

The scheduler (``runner.py``) decides *which* job instances exist: it expands
matrices, evaluates ``needs``, names each instance. It describes each one as a
``JobPlan`` and hands that to a launcher. In ``conveyor run`` and the embedded
server the launcher runs the job in a thread of the same process; on a scaled-out
server it sends ``plan.to_json()`` to a worker on another machine, which has no
access to the server's database or data directory and rebuilds the job from the
plan alone (``job_from_plan.run_planned_job``).

So a plan holds only JSON values: the workflow files as text (a worker parses them
itself, as the server did), the contexts already evaluated (``needs``, ``matrix``,
``strategy``), the secrets the job may see, and the run-wide facts of ``RunPlan``.
What belongs to the machine that runs the job (its workspace, environment, store
and artifact directories, its runs-on labels) is not in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.engine.events import Status
from conveyor.engine.git_info import GitInfo
from conveyor.engine.results import JobResult, StepResult
from conveyor.records import as_dict, field, field_names, record

if TYPE_CHECKING:
    from conveyor.engine.options import RunOptions
    from conveyor.workflow.model import Workflow

FORMAT = 1  # bumped when a plan from an older Conveyor cannot be read as it is


class PlanUnreadable(ValueError):
    """A plan's JSON that is not one this Conveyor can run (another version, cut short)."""


@record(frozen=True)
class WorkflowFile:
    """A workflow file as the run read it: the name messages give it, and its text."""

    path: str
    source: str


@record
class RunPlan:
    """What every job of one run shares, as plain data."""

    workflow: WorkflowFile  # the run's own (github.workflow, the `workflow` of each job)
    git: dict[str, Any]  # GitInfo's fields
    event_name: str = "push"
    event_payload: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)  # defaults applied
    run_id: str = ""
    run_number: int = 1
    actor: str = ""
    max_step_log_bytes: int | None = None
    actions_url: str = "https://github.com"
    services: dict[str, str] = field(default_factory=dict)  # id -> HOST:PORT[,PORT]
    service_advice: str = "--service {name}=HOST:PORT"
    artifact_url: str | None = None
    disposable_workspace: bool = False
    cache_scope: str = ""
    cache_restore_scopes: list[str] = field(default_factory=list)
    cache_max_bytes: int | None = None

    def git_info(self) -> GitInfo:
        known = set(field_names(GitInfo))
        return GitInfo(**{name: value for name, value in self.git.items() if name in known})


@record
class CalledPlan:
    """For a job of a called (reusable) workflow: that workflow, what its caller passed,
    and the run's job it is shown under."""

    workflow: WorkflowFile
    inputs: dict[str, Any]
    secrets: dict[str, str]
    top_job_id: str


@record
class JobPlan:
    """One job instance (a job, or one combination of its matrix), ready to run."""

    run: RunPlan
    job_id: str  # the job's id in its workflow file
    job_key: str  # unique in the run: "test (3.12)", "call / build"
    name: str  # as shown
    matrix: dict[str, Any] = field(default_factory=dict)
    strategy: dict[str, Any] = field(default_factory=dict)  # the `strategy` context
    needs: dict[str, Any] = field(default_factory=dict)  # the `needs` context
    called: CalledPlan | None = None
    # runs-on, evaluated: where the job may run. A dispatcher routes on these.
    labels: list[str] = field(default_factory=list)
    # The job's env sets CONVEYOR_RETRY_ON_WORKER_LOST: a worker that dies mid-job has
    # it sent again (it is safe to run twice) rather than failed.
    retry_on_worker_lost: bool = False

    @property
    def workflow(self) -> WorkflowFile:
        """The file the job is written in."""
        return self.called.workflow if self.called is not None else self.run.workflow

    @property
    def event_job_id(self) -> str:
        """The job id its events carry: a called job is shown under its caller."""
        return self.called.top_job_id if self.called is not None else self.job_id

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **as_dict(self)}

    @classmethod
    def from_json(cls, data: Any) -> JobPlan:
        """The plan ``to_json`` gave; ``PlanUnreadable`` says what is wrong with ``data``."""
        if not isinstance(data, dict):
            raise PlanUnreadable(f"a job plan is a JSON object, not {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise PlanUnreadable(
                f"job plan format {data.get('format')!r}; this Conveyor reads format {FORMAT}"
                " (are the server and the worker the same version?)"
            )
        try:
            fields = _fields(cls, data, ("format",))
            run_fields = _fields(RunPlan, fields["run"])
            run_fields["workflow"] = _workflow_file(run_fields["workflow"])
            fields["run"] = RunPlan(**run_fields)
            called = fields.get("called")
            if called is not None:
                called_fields = _fields(CalledPlan, called)
                called_fields["workflow"] = _workflow_file(called_fields["workflow"])
                fields["called"] = CalledPlan(**called_fields)
            return cls(**fields)
        except (KeyError, TypeError) as error:
            raise PlanUnreadable(f"a job plan without what it needs: {error}") from None


def _fields(cls: type, data: Any, ignored: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} is a JSON object, not {type(data).__name__}")
    names = set(field_names(cls))
    unknown = sorted(set(data) - names - set(ignored))
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(unknown)}")
    return {name: value for name, value in data.items() if name in names}


def _workflow_file(data: Any) -> WorkflowFile:
    return WorkflowFile(**_fields(WorkflowFile, data))


@record
class JobOutcome:
    """What running a plan gave back: the job's result, and its outputs unmasked (the
    ``needs`` context of the jobs after it sees them as they are, as on GitHub)."""

    result: JobResult
    raw_outputs: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **as_dict(self)}

    @classmethod
    def from_json(cls, data: Any) -> JobOutcome:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise PlanUnreadable("not a job outcome of this Conveyor's format")
        try:
            result = _fields(JobResult, data["result"])
            result["status"] = Status(result["status"])
            result["steps"] = [_step_result(step) for step in result.get("steps", [])]
            raw = data.get("raw_outputs") or {}
            if not isinstance(raw, dict):
                raise TypeError("raw_outputs is a JSON object")
            return cls(JobResult(**result), {str(k): str(v) for k, v in raw.items()})
        except (KeyError, TypeError, ValueError) as error:
            raise PlanUnreadable(f"a job outcome without what it needs: {error}") from None


def _step_result(data: Any) -> StepResult:
    fields = _fields(StepResult, data)
    fields["status"] = Status(fields["status"])
    fields["outcome"] = Status(fields["outcome"])
    return StepResult(**fields)


def run_plan(
    options: RunOptions, workflow: Workflow, git: GitInfo, inputs: dict[str, Any]
) -> RunPlan:
    """The run-wide part of every job plan of a run of ``workflow`` with ``options``."""
    return RunPlan(
        workflow=WorkflowFile(workflow.path, workflow.source),
        git=as_dict(git),
        event_name=options.event_name,
        event_payload=options.event_payload,
        secrets=dict(options.secrets),
        variables=dict(options.variables),
        inputs=inputs,
        run_id=options.run_id,
        run_number=options.run_number,
        actor=options.actor,
        max_step_log_bytes=options.max_step_log_bytes,
        actions_url=options.actions_url,
        services={name: str(address) for name, address in options.services.items()},
        service_advice=options.service_advice,
        artifact_url=options.artifact_url,
        disposable_workspace=options.disposable_workspace,
        cache_scope=options.cache_scope,
        cache_restore_scopes=list(options.cache_restore_scopes),
        cache_max_bytes=options.cache_max_bytes,
    )
